// Fragments of the virtual board harness for an overlay: several register buses, the
// manifest and the RUN rule of hetflow/link/boardmap.py.  Each section below fills
// the field of its name in protocol.cpp.
//== DESIGN ==
// ---- the design's register space: several instances and a manifest -----------------
// Instance k's register window is at k * INSTANCE_STRIDE, the manifest's words at
// MANIFEST_BASE; holes read 0 and ignore writes.  Every access takes one cycle, as the
// single kernel's do.

static const uint32_t INSTANCE_STRIDE = @INSTANCE_STRIDE@;
static const uint32_t MANIFEST_BASE = @MANIFEST_BASE@;
static const unsigned NUNIT = @NUNIT@;
static const uint32_t UNIT_SIZE[NUNIT] = {@UNIT_SIZES@};
static const uint32_t UNIT_CTRL[NUNIT] = {@UNIT_CTRLS@};
static const uint32_t UNIT_STATUS_WORD[NUNIT] = {@UNIT_STATUS_WORDS@};
static const uint32_t MANIFEST_WORDS = @MANIFEST_LEN@;
static const uint32_t MANIFEST[MANIFEST_WORDS] = {@MANIFEST@};

// Instances whose ctrl was written with the start bit since the last RESET: RUN waits
// for each of them to be done.
static bool started[NUNIT];

static void unit_bus(unsigned k, uint32_t word, uint32_t value, bool write) {
    switch (k) {
@UNIT_BUS@
    }
}

static uint32_t unit_r_data(unsigned k) {
    switch (k) {
@UNIT_R_DATA@
    }
    return 0;
}

static void reg_write(uint32_t off, uint32_t value) {
    const unsigned k = off / INSTANCE_STRIDE;
    const uint32_t inner = off % INSTANCE_STRIDE;
    const bool mapped = off < MANIFEST_BASE && k < NUNIT && inner < UNIT_SIZE[k];
    if (mapped) {
        unit_bus(k, inner >> 2, value, true);
        if (inner == UNIT_CTRL[k] && (value & 1)) started[k] = true;
    }
    cycle();
    csr_idle();
}

static uint32_t reg_read(uint32_t off) {
    const unsigned k = off / INSTANCE_STRIDE;
    const uint32_t inner = off % INSTANCE_STRIDE;
    const bool mapped = off < MANIFEST_BASE && k < NUNIT && inner < UNIT_SIZE[k];
    if (mapped) unit_bus(k, inner >> 2, 0, false);
    cycle();                       // r_data is registered: valid after this edge
    csr_idle();
    if (mapped) return unit_r_data(k);
    const uint32_t word = (off - MANIFEST_BASE) >> 2;
    return off >= MANIFEST_BASE && word < MANIFEST_WORDS ? MANIFEST[word] : 0;
}

// RUN polls every instance's status register each cycle, as a host would.
static inline void poll_status() {
    for (unsigned k = 0; k < NUNIT; k++) unit_bus(k, UNIT_STATUS_WORD[k], 0, false);
}

// Done: at least one instance started, each started one done, every channel idle.
static inline bool run_done() {
    bool any = false;
@UNIT_DONE@
    return any && channels_done();
}
//== ON_RESET ==
            for (unsigned k = 0; k < NUNIT; k++) started[k] = false;
//== REG_WRITE ==
            reg_write(get32(p), get32(p + 4));
//== REG_READ ==
            uint8_t r[4];
            put32(r, reg_read(get32(p)));
//== POLL_STATUS ==
    poll_status();
//== RUN_DONE ==
run_done()
