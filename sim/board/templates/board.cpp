// The memory, the DMA channels and the clock of the virtual board; a main follows.
// hetflow/sim/board/harness.py substitutes the @NAME@ fields.
@@CUT@@
#include "Vboard.h"
#include "verilated.h"
#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>
#include <unistd.h>
#include <signal.h>

@OPCODES@
@STATUSES@

static const unsigned NCHAN = @NCHAN@;
static const uint32_t STRIDE[@NCHAN1@] = {@STRIDES@};
static const uint32_t REG_SIZE = @REGSIZE@;
static const uint32_t STATUS_WORD = @STATUS_WORD@;
static const uint64_t MAX_PAYLOAD = @MAXPAYLOAD@ull;

struct Chan { uint32_t addr; uint32_t left; };

static Vboard* top;
static uint8_t* mem;
static uint64_t mem_size;
static Chan ch[@NCHAN1@];
static int out_fd = 1;

// ---- pipes ------------------------------------------------------------------------
// Both ways buffered: a burst of requests arrives in a few reads, and its responses
// leave together when the input runs dry (or once a RUN has clocked HOLD_CYCLES, as a
// run may take long), so a client that pipelines requests wakes once per burst.

static uint8_t in_buf[1 << 16];
static size_t in_pos = 0, in_len = 0;
static std::vector<uint8_t> out_buf;

static void write_all(const void* buf, size_t n) {
    const uint8_t* p = static_cast<const uint8_t*>(buf);
    while (n) {
        ssize_t r = ::write(out_fd, p, n);
        if (r < 0 && errno == EINTR) continue;
        if (r <= 0) std::exit(3);   // the client went away
        p += r; n -= (size_t)r;
    }
}

static void flush_out() {
    if (out_buf.empty()) return;
    write_all(out_buf.data(), out_buf.size());
    out_buf.clear();
}

// Blocks only after the answers so far have gone out: the client may wait for them.
static ssize_t read_some(void* buf, size_t n) {
    flush_out();
    for (;;) {
        ssize_t r = ::read(0, buf, n);
        if (r < 0 && errno == EINTR) continue;
        return r;
    }
}

static bool read_all(void* buf, size_t n) {
    uint8_t* p = static_cast<uint8_t*>(buf);
    while (n) {
        if (in_pos == in_len) {
            // A large payload goes straight to its place; small frames through the buffer.
            ssize_t r = n >= sizeof in_buf ? read_some(p, n) : read_some(in_buf, sizeof in_buf);
            if (r <= 0) return false;
            if (n >= sizeof in_buf) { p += r; n -= (size_t)r; continue; }
            in_pos = 0; in_len = (size_t)r;
        }
        size_t k = in_len - in_pos < n ? in_len - in_pos : n;
        std::memcpy(p, in_buf + in_pos, k);
        in_pos += k; p += k; n -= k;
    }
    return true;
}

static void put32(uint8_t* p, uint32_t v) { std::memcpy(p, &v, 4); }
static void put64(uint8_t* p, uint64_t v) { std::memcpy(p, &v, 8); }
static uint32_t get32(const uint8_t* p) { uint32_t v; std::memcpy(&v, p, 4); return v; }
static uint64_t get64(const uint8_t* p) { uint64_t v; std::memcpy(&v, p, 8); return v; }

static void respond(uint8_t status, const void* payload, uint32_t n) {
    uint8_t hdr[5];
    hdr[0] = status;
    put32(hdr + 1, n);
    out_buf.insert(out_buf.end(), hdr, hdr + 5);
    const uint8_t* p = static_cast<const uint8_t*>(payload);
    if (n < sizeof in_buf) { out_buf.insert(out_buf.end(), p, p + n); return; }
    flush_out();                  // a large payload straight from memory
    write_all(p, n);
}

static void error(uint8_t status, const std::string& msg) {
    respond(status, msg.data(), (uint32_t)msg.size());
}

static std::string hex(uint64_t v) {
    char buf[32];
    std::snprintf(buf, sizeof buf, "0x%llx", (unsigned long long)v);
    return buf;
}

// ---- the clock --------------------------------------------------------------------

static inline void cycle() {
@DRIVE@
    top->clk = 0;
    top->eval();
@SAMPLE@
    top->clk = 1;
    top->eval();
@ADVANCE@
}

static inline void csr_idle() {
@CSR_IDLE@
}

static inline bool channels_done() {
    for (unsigned i = 0; i < NCHAN; i++)
        if (ch[i].left) return false;
    return true;
}

static void do_reset(uint32_t n) {
    for (unsigned i = 0; i < NCHAN; i++) ch[i].left = 0;
    csr_idle();
    top->rst = 1;
    for (uint32_t i = 0; i < n; i++) cycle();
    top->rst = 0;
    cycle();
}

// Both mains start the model the same way: idle bus, clock low, then a short reset.
static void start_model() {
    VerilatedContext* ctx = new VerilatedContext;
    ctx->fatalOnError(false);
    top = new Vboard{ctx};
    top->clk = 0;
    csr_idle();
@CSR_CLEAR@
    top->eval();
    do_reset(4);
}
