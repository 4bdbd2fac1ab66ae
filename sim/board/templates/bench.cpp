// Raw benchmark of the virtual board of hetflow kernel '@KERNEL@'. Generated; do not edit.
// Job file: see encode_bench_job in hetflow/sim/board/harness.py.
@PRELUDE@
// ---- raw benchmark: one job from a file, no protocol ------------------------------

#include <chrono>
#include <ctime>

struct Cursor {
    const uint8_t* p;
    size_t left;
    bool ok = true;
    const uint8_t* take(size_t n) {
        if (!ok || n > left) { ok = false; return nullptr; }
        const uint8_t* r = p; p += n; left -= n; return r;
    }
    uint32_t u32() { const uint8_t* q = take(4); return q ? get32(q) : 0; }
    uint64_t u64() { const uint8_t* q = take(8); return q ? get64(q) : 0; }
};

// CPU time of this process: unlike the wall time, it does not count the time the
// machine gave to other processes (or, on a VM, to other guests).
static double cpu_seconds() {
    timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

static bool in_memory(uint64_t addr, uint64_t len) {
    return addr <= mem_size && len <= mem_size - addr;
}

static void csr_write(uint32_t off, uint32_t value) {
    top->csr_addr = off >> 2;
    top->csr_w_data = value;
    top->csr_w_stb = 1;
    top->csr_r_stb = 0;
    cycle();
    csr_idle();
}

static uint32_t csr_read(uint32_t off) {
    top->csr_addr = off >> 2;
    top->csr_r_stb = 1;
    top->csr_w_stb = 0;
    cycle();                       // r_data is registered: valid after this edge
    csr_idle();
    return (uint32_t)top->csr_r_data;
}

static int bad_job(const char* path, const std::string& what) {
    std::fprintf(stderr, "job file %s: %s\n", path, what.c_str());
    return 2;
}

int main(int argc, char** argv) {
    if (argc != 4) {
        std::fprintf(stderr, "usage: %s MEMORY_BYTES JOB_FILE OUTPUT_FILE\n", argv[0]);
        return 2;
    }
    mem_size = std::strtoull(argv[1], nullptr, 0);
    if (mem_size == 0 || mem_size > 0xFFFFFFFFull) {
        std::fprintf(stderr, "memory size must be 1..0xffffffff bytes, not %s\n", argv[1]);
        return 2;
    }
    mem = static_cast<uint8_t*>(std::calloc(mem_size, 1));
    if (!mem) { std::fprintf(stderr, "cannot allocate %llu bytes\n", (unsigned long long)mem_size); return 2; }

    std::vector<uint8_t> file;
    {
        FILE* f = std::fopen(argv[2], "rb");
        if (!f) return bad_job(argv[2], std::string("cannot open: ") + std::strerror(errno));
        uint8_t chunk[1 << 16];
        size_t n;
        while ((n = std::fread(chunk, 1, sizeof chunk, f)) > 0) file.insert(file.end(), chunk, chunk + n);
        std::fclose(f);
    }
    Cursor c{file.data(), file.size()};
    const uint8_t* magic = c.take(4);
    if (!magic || std::memcmp(magic, "HFBJ", 4)) return bad_job(argv[2], "not a job file (no HFBJ magic)");
    const uint64_t budget = c.u64();
    const uint32_t cycles_lo = c.u32(), cycles_hi = c.u32();
    const uint32_t nwrites = c.u32();
    if (nwrites > c.left / 8) return bad_job(argv[2], "truncated");
    std::vector<std::pair<uint32_t, uint32_t>> writes(nwrites);
    for (auto& w : writes) { w.first = c.u32(); w.second = c.u32(); }
    Chan setup[@NCHAN1@] = {};
    for (unsigned i = 0; i < NCHAN; i++) {
        setup[i].addr = c.u32();
        setup[i].left = c.u32();
        if (c.ok && !in_memory(setup[i].addr, (uint64_t)setup[i].left * STRIDE[i]))
            return bad_job(argv[2], "DMA channel " + std::to_string(i) + " is outside the memory");
    }
    for (uint32_t n = c.u32(); c.ok && n; n--) {
        const uint32_t addr = c.u32(), len = c.u32();
        const uint8_t* data = c.take(len);
        if (data && !in_memory(addr, len)) return bad_job(argv[2], "load at " + hex(addr) + " is outside the memory");
        if (data) std::memcpy(mem + addr, data, len);
    }
    const uint32_t nsaves = c.u32();
    if (nsaves > c.left / 8) return bad_job(argv[2], "truncated");
    std::vector<std::pair<uint32_t, uint32_t>> saves(nsaves);
    for (auto& s : saves) {
        s.first = c.u32(); s.second = c.u32();
        if (c.ok && !in_memory(s.first, s.second)) return bad_job(argv[2], "save at " + hex(s.first) + " is outside the memory");
    }
    if (!c.ok) return bad_job(argv[2], "truncated");
    for (auto& w : writes)
        if (w.first >= REG_SIZE || (w.first & 3)) return bad_job(argv[2], "bad register offset " + hex(w.first));

    start_model();

    // Timed: DMA setup, register writes, start and the clocking, exactly as RUN does it.
    const auto t0 = std::chrono::steady_clock::now();
    const double cpu0 = cpu_seconds();
    for (unsigned i = 0; i < NCHAN; i++) ch[i] = setup[i];
    for (auto& w : writes) csr_write(w.first, w.second);
    top->csr_addr = STATUS_WORD;
    top->csr_r_stb = 1;
    top->csr_w_stb = 0;
    uint64_t n = 0;
    bool done = false;
    while (n < budget) {
        cycle();
        n++;
        if ((top->csr_r_data & 2) && channels_done()) { done = true; break; }
    }
    csr_idle();
    const double cpu = cpu_seconds() - cpu0;
    const auto t1 = std::chrono::steady_clock::now();
    const double seconds = std::chrono::duration<double>(t1 - t0).count();

    const uint64_t cycles = csr_read(cycles_lo) | ((uint64_t)csr_read(cycles_hi) << 32);
    FILE* out = std::fopen(argv[3], "wb");
    if (!out) { std::fprintf(stderr, "cannot write %s: %s\n", argv[3], std::strerror(errno)); return 2; }
    for (auto& s : saves)
        if (s.second && std::fwrite(mem + s.first, 1, s.second, out) != s.second) {
            std::fprintf(stderr, "cannot write %s: %s\n", argv[3], std::strerror(errno));
            std::fclose(out);
            return 2;
        }
    if (std::fclose(out) != 0) { std::fprintf(stderr, "cannot write %s\n", argv[3]); return 2; }
    std::printf("done=%d clocked=%llu cycles=%llu seconds=%.9f cpu_seconds=%.9f\n",
                done ? 1 : 0, (unsigned long long)n, (unsigned long long)cycles, seconds, cpu);
    top->final();
    delete top;
    return done ? 0 : 4;
}
