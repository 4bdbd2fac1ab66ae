// Virtual board harness for hetflow @WHAT@ '@KERNEL@'. Generated; do not edit.
// Protocol: see hetflow/link/protocol.py (frames are little-endian).
@PRELUDE@
// ---- requests ---------------------------------------------------------------------

#include <sys/mman.h>
#include <sys/stat.h>

@STAGE_OPCODES@
@DESIGN@

// The staging area shared with the host (a file descriptor on the command line), or none.
static uint8_t* stage = nullptr;
static uint64_t stage_size = 0;

static bool check_stage(uint64_t off, uint64_t len) {
    if (!stage || off > stage_size || len > stage_size - off) {
        error(ST_BAD_ADDRESS, "staging range " + hex(off) + "+" + hex(len)
              + " is outside the staging area (" + hex(stage_size) + " bytes)");
        return false;
    }
    return true;
}

static bool check_len(uint32_t len, uint32_t want, const char* name) {
    if (len == want) return true;
    error(ST_BAD_LENGTH, std::string(name) + ": payload of " + std::to_string(len)
          + " bytes; expected " + std::to_string(want));
    return false;
}

static bool check_reg(uint32_t off) {
    if (off >= REG_SIZE) {
        error(ST_BAD_REGISTER, "register offset " + hex(off) + " is outside the register window (" + hex(REG_SIZE) + " bytes)");
        return false;
    }
    if (off & 3) {
        error(ST_BAD_REGISTER, "register offset " + hex(off) + " is not 4-aligned");
        return false;
    }
    return true;
}

static bool check_mem(uint64_t addr, uint64_t len) {
    if (addr > mem_size || len > mem_size - addr) {
        error(ST_BAD_ADDRESS, "memory range " + hex(addr) + "+" + hex(len)
              + " is outside the memory (" + hex(mem_size) + " bytes)");
        return false;
    }
    return true;
}

// Reads and drops ``n`` payload bytes, to stay in step with the client.
static bool discard(uint64_t n) {
    uint8_t sink[65536];
    while (n) {
        size_t k = n < sizeof sink ? (size_t)n : sizeof sink;
        if (!read_all(sink, k)) return false;
        n -= k;
    }
    return true;
}

// Cycles a RUN clocks before the answers to the requests before it leave.
static const uint64_t HOLD_CYCLES = 1 << 16;

// The clocking of RUN, the loop of the raw benchmark, in a function of its own: compiled
// apart from the request loop, it is optimised as tightly as the benchmark's.
static __attribute__((noinline)) bool clock_until_done(const uint64_t budget, uint64_t* ran) {
    // Poll the status register every cycle, as a host would (reads have no side effects).
@POLL_STATUS@
    uint64_t n = 0;
    bool done = false;
    while (n < budget) {
        cycle();
        n++;
        if (@RUN_DONE@) { done = true; break; }
    }
    csr_idle();
    *ran = n;
    return done;
}

int main(int argc, char** argv) {
    // Keep the protocol on a private descriptor; anything the model prints goes to stderr.
    out_fd = ::dup(1);
    ::dup2(2, 1);
    ::signal(SIGPIPE, SIG_IGN);
    mem_size = argc > 1 ? std::strtoull(argv[1], nullptr, 0) : (16u << 20);
    if (mem_size == 0 || mem_size > 0xFFFFFFFFull) {
        std::fprintf(stderr, "memory size must be 1..0xffffffff bytes\n");
        return 2;
    }
    mem = static_cast<uint8_t*>(std::calloc(mem_size, 1));
    if (!mem) { std::fprintf(stderr, "cannot allocate %llu bytes\n", (unsigned long long)mem_size); return 2; }
    if (argc > 2) {
        const int fd = std::atoi(argv[2]);
        struct stat st;
        void* area = MAP_FAILED;
        if (::fstat(fd, &st) == 0 && st.st_size > 0)
            area = ::mmap(nullptr, (size_t)st.st_size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
        if (area == MAP_FAILED) {
            std::fprintf(stderr, "cannot map the staging area (descriptor %s): %s\n", argv[2], std::strerror(errno));
            return 2;
        }
        stage = static_cast<uint8_t*>(area);
        stage_size = (uint64_t)st.st_size;
    }
    // Fault in the memory (and map the staging area's pages, which the host has touched)
    // now, not during the first job's transfers; at most PREFAULT bytes of each.
    const uint64_t PREFAULT = 64ull << 20;
    std::memset(mem, 0, mem_size < PREFAULT ? mem_size : PREFAULT);
    for (uint64_t at = 0; stage && at < stage_size && at < PREFAULT; at += 4096)
        (void)*(volatile uint8_t*)(stage + at);

    start_model();

    std::vector<uint8_t> buf;
    std::vector<uint8_t> out;
    for (;;) {
        uint8_t hdr[5];
        if (!read_all(hdr, 5)) break;           // client closed the pipe: exit quietly
        const uint8_t op = hdr[0];
        const uint32_t len = get32(hdr + 1);
        uint64_t limit = mem_size + 64;
        if (len > limit || len > MAX_PAYLOAD) {
            // Too large to hold: discard it to stay in step with the client.
            if (!discard(len)) break;
            error(ST_TOO_LARGE, "payload of " + std::to_string(len) + " bytes is larger than the memory");
            continue;
        }
        if (op == OP_MEM_WRITE && len >= 4) {
            // The data goes straight into memory (or is discarded when out of range).
            uint8_t a[4];
            if (!read_all(a, 4)) break;
            const uint32_t addr = get32(a);
            if (check_mem(addr, len - 4)) {
                if (!read_all(mem + addr, len - 4)) break;
                respond(ST_OK, nullptr, 0);
            } else if (!discard(len - 4)) {
                break;
            }
            continue;
        }
        buf.resize(len);
        if (len && !read_all(buf.data(), len)) break;
        const uint8_t* p = buf.data();
        switch (op) {
        case OP_PING: {
            if (!check_len(len, 0, "PING")) break;
            uint8_t r[15];
            std::memcpy(r, "HFVB", 4);
            uint16_t v = @VERSION@;
            std::memcpy(r + 4, &v, 2);
            r[6] = (uint8_t)NCHAN;
            put32(r + 7, (uint32_t)mem_size);
            put32(r + 11, REG_SIZE);
            respond(ST_OK, r, 15);
            break;
        }
        case OP_RESET: {
            if (!check_len(len, 4, "RESET")) break;
            uint32_t n = get32(p);
            if (n == 0 || n > 1000000) { error(ST_BAD_LENGTH, "RESET: cycles must be 1..1000000, not " + std::to_string(n)); break; }
            do_reset(n);
@ON_RESET@
            respond(ST_OK, nullptr, 0);
            break;
        }
        case OP_REG_WRITE: {
            if (!check_len(len, 8, "REG_WRITE") || !check_reg(get32(p))) break;
@REG_WRITE@
            respond(ST_OK, nullptr, 0);
            break;
        }
        case OP_REG_READ: {
            if (!check_len(len, 4, "REG_READ") || !check_reg(get32(p))) break;
@REG_READ@
            respond(ST_OK, r, 4);
            break;
        }
        case OP_MEM_WRITE: {     // shorter than its address (longer ones are done above)
            check_len(len, 4, "MEM_WRITE");
            break;
        }
        case OP_MEM_READ: {
            if (!check_len(len, 8, "MEM_READ")) break;
            uint32_t addr = get32(p), n = get32(p + 4);
            if (!check_mem(addr, n)) break;
            respond(ST_OK, mem + addr, n);
            break;
        }
        case OP_DMA_SETUP: {
            if (!check_len(len, 9, "DMA_SETUP")) break;
            unsigned c = p[0];
            uint32_t addr = get32(p + 1), beats = get32(p + 5);
            if (c >= NCHAN) { error(ST_BAD_CHANNEL, "DMA channel " + std::to_string(c) + " does not exist (" + std::to_string(NCHAN) + " channels)"); break; }
            if (!check_mem(addr, (uint64_t)beats * STRIDE[c])) break;
            ch[c].addr = addr;
            ch[c].left = beats;
            respond(ST_OK, nullptr, 0);
            break;
        }
        case OP_RUN: {
            if (!check_len(len, 8, "RUN")) break;
            const uint64_t budget = get64(p);
            // A short run answers together with the requests before it (one write, one
            // wake-up of the client); a longer one sends their answers first, so that
            // none of them waits for the whole run.
            uint64_t n = 0;
            bool done = clock_until_done(budget < HOLD_CYCLES ? budget : HOLD_CYCLES, &n);
            if (!done && n < budget) {
                flush_out();
                uint64_t more = 0;
                done = clock_until_done(budget - n, &more);
                n += more;
            }
            const uint8_t reason = done ? 0 : 1;
            uint8_t r[9];
            r[0] = reason;
            put64(r + 1, n);
            respond(ST_OK, r, 9);
            break;
        }
        case OP_STAGE_WRITE:
        case OP_STAGE_READ: {
            if (!check_len(len, 12, op == OP_STAGE_WRITE ? "STAGE_WRITE" : "STAGE_READ")) break;
            const uint32_t addr = get32(p), off = get32(p + 4), n = get32(p + 8);
            if (!check_mem(addr, n) || !check_stage(off, n)) break;
            if (op == OP_STAGE_WRITE) std::memcpy(mem + addr, stage + off, n);
            else std::memcpy(stage + off, mem + addr, n);
            respond(ST_OK, nullptr, 0);
            break;
        }
        case OP_QUIT: {
            if (!check_len(len, 0, "QUIT")) break;
            respond(ST_OK, nullptr, 0);
            flush_out();
            top->final();
            delete top;
            return 0;
        }
        default:
            error(ST_BAD_OPCODE, "unknown opcode " + hex(op));
        }
    }
    flush_out();
    top->final();
    delete top;
    return 0;
}
