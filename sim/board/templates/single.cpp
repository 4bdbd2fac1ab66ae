// Fragments of the virtual board harness for a single kernel: its one register bus, at
// offset 0.  Each section below fills the field of its name in protocol.cpp.
//== REG_WRITE ==
            top->csr_addr = get32(p) >> 2;
            top->csr_w_data = get32(p + 4);
            top->csr_w_stb = 1;
            top->csr_r_stb = 0;
            cycle();
            csr_idle();
//== REG_READ ==
            top->csr_addr = get32(p) >> 2;
            top->csr_r_stb = 1;
            top->csr_w_stb = 0;
            cycle();                       // r_data is registered: valid after this edge
            csr_idle();
            uint8_t r[4];
            put32(r, (uint32_t)top->csr_r_data);
//== POLL_STATUS ==
    top->csr_addr = STATUS_WORD;
    top->csr_r_stb = 1;
    top->csr_w_stb = 0;
//== RUN_DONE ==
(top->csr_r_data & 2) && channels_done()
//== DESIGN ==
//== ON_RESET ==
