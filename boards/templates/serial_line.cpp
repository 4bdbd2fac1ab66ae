// The served board (hetflow.boards.serialsim): the SoC, its frame bridge and its UART in
// Verilator, the UART's pins driven from a byte stream (fd 0 in, fd 1 out) bit by bit at
// the line rate, in simulated SoC time.
//
//   argv: PARENT_PID CLOCK_FILE CLOCK_HZ BAUD TURNAROUND_CYCLES PACKET_DATA
//
// Host -> board: bytes read from fd 0 are shifted onto `rx` as 8N1 frames, back to back,
// each bit CLOCK_HZ / BAUD cycles long (exactly: bit edges fall on the cycle where
// cycles * BAUD crosses a multiple of CLOCK_HZ).
// Board -> host: `tx` is decoded like a UART receiver (falling edge, then each bit sampled
// in its middle); each byte is held as in a USB-UART chip and written to fd 1 when
// PACKET_DATA bytes are held or the line has been quiet for TURNAROUND_CYCLES.
// The design is clocked only while something is under way; the cycle count is published
// in CLOCK_FILE (layout: hetflow.boards.socclock).
#include "Vboard.h"
#include "verilated.h"
#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fcntl.h>
#include <poll.h>
#include <sys/mman.h>
#include <unistd.h>
#include <vector>

namespace {

struct ClockFile {
    char magic[8];
    uint64_t seq, cycles, delivered, clock_hz, baud, turnaround, packet;
};

// Bytes held for a host that does not read before the oldest are dropped (a USB-UART
// whose host stopped reading overflows the same way).
const size_t OUT_LIMIT = 1 << 20;
// Cycles between two looks at the host's side while the design is busy.
const int BATCH = 1024;

uint64_t arg(char** argv, int i) { return std::strtoull(argv[i], nullptr, 10); }

}  // namespace

int main(int argc, char** argv) {
    if (argc != 7) {
        std::fprintf(stderr, "usage: %s PARENT_PID CLOCK_FILE CLOCK_HZ BAUD TURNAROUND_CYCLES "
                             "PACKET_DATA\n", argv[0]);
        return 2;
    }
    const pid_t parent = (pid_t)arg(argv, 1);
    const uint64_t clock_hz = arg(argv, 3), baud = arg(argv, 4);
    const uint64_t turnaround = arg(argv, 5), packet = arg(argv, 6);
    const int cfd = open(argv[2], O_RDWR);
    ClockFile* clock = cfd < 0 ? nullptr : (ClockFile*)mmap(
        nullptr, sizeof(ClockFile), PROT_READ | PROT_WRITE, MAP_SHARED, cfd, 0);
    if (clock == nullptr || clock == MAP_FAILED || clock_hz == 0 || baud == 0) {
        std::fprintf(stderr, "%s: cannot use clock file %s or rates %s/%s\n", argv[0], argv[2],
                     argv[3], argv[4]);
        return 2;
    }

    Verilated::commandArgs(1, argv);
    Vboard* top = new Vboard;
    fcntl(0, F_SETFL, fcntl(0, F_GETFL) | O_NONBLOCK);
    fcntl(1, F_SETFL, fcntl(1, F_GETFL) | O_NONBLOCK);

    uint64_t cycle = 0, delivered = 0;
    auto publish = [&]() {
        __atomic_store_n(&clock->seq, clock->seq + 1, __ATOMIC_RELEASE);   // odd: writing
        __atomic_thread_fence(__ATOMIC_SEQ_CST);
        clock->cycles = cycle;
        clock->delivered = delivered;
        clock->clock_hz = clock_hz;
        clock->baud = baud;
        clock->turnaround = turnaround;
        clock->packet = packet;
        __atomic_thread_fence(__ATOMIC_SEQ_CST);
        __atomic_store_n(&clock->seq, clock->seq + 1, __ATOMIC_RELEASE);   // even: done
    };

    // Host -> board: the queue and the stream of back-to-back frames being shifted out.
    std::vector<uint8_t> in;
    size_t in_pos = 0;
    bool sending = false;
    uint64_t origin = 0, sent = 0;      // the stream's first cycle; frames finished in it
    auto rx_level = [&]() -> int {
        if (!sending) {
            if (in_pos == in.size()) return 1;
            sending = true;
            origin = cycle;
            sent = 0;
        }
        uint64_t bit = (cycle - origin) * baud / clock_hz;
        if (bit / 10 > sent) {                      // the stop bit of a frame has ended
            in_pos++;
            sent++;
            if (in_pos == in.size()) {
                sending = false;
                return 1;
            }
        }
        const int k = bit % 10;
        return k == 0 ? 0 : k == 9 ? 1 : (in[in_pos] >> (k - 1)) & 1;
    };

    // Board -> host: a UART receiver on `tx`, and the USB-UART's held bytes.
    bool hunting = true;
    int prev_tx = 1, bit_no = 0;
    uint64_t edge = 0;
    unsigned shift = 0;
    std::vector<uint8_t> held, out;
    uint64_t held_last = 0;
    auto deliver = [&](size_t n) {
        out.insert(out.end(), held.begin(), held.begin() + n);
        held.erase(held.begin(), held.begin() + n);
        delivered = cycle;
        if (out.size() > OUT_LIMIT) out.erase(out.begin(), out.end() - OUT_LIMIT);
    };
    auto receive = [&](int tx) {
        if (hunting) {
            if (prev_tx && !tx) {
                hunting = false;
                edge = cycle;
                bit_no = 0;
                shift = 0;
            }
        } else if ((cycle - edge) * 2 * baud >= (2 * (uint64_t)bit_no + 1) * clock_hz) {
            if (bit_no == 0 && tx) {
                hunting = true;                     // high again mid start bit: a glitch
            } else if (bit_no >= 1 && bit_no <= 8) {
                shift |= (unsigned)tx << (bit_no - 1);
            } else if (bit_no == 9) {
                hunting = true;
                if (tx) {                           // a stop bit of 0 drops the byte
                    held.push_back((uint8_t)shift);
                    held_last = cycle;
                    if (turnaround == 0) deliver(held.size());
                    else if (packet && held.size() >= packet) deliver(packet);
                }
            }
            bit_no++;
        }
        prev_tx = tx;
        if (!held.empty() && cycle - held_last >= turnaround) deliver(held.size());
    };

    auto step = [&]() {
        top->rx = rx_level();
        top->clk = 0;
        top->eval();
        top->clk = 1;
        top->eval();
        cycle++;
        receive(top->tx);
    };
    auto active = [&]() {
        return sending || in_pos < in.size() || top->busy || !hunting || !held.empty();
    };

    top->rx = 1;
    top->rst = 1;
    for (int i = 0; i < 8; i++) {
        top->clk = 0;
        top->eval();
        top->clk = 1;
        top->eval();
    }
    top->rst = 0;
    std::memcpy(clock->magic, "HFSOCCLK", 8);
    publish();

    // On a pty no end-of-file tells the board that its host process is gone (the pty's
    // master is this process's own fd 0/1): it stops when its parent changes, checked every
    // turn (a turn is at most ~5 ms when idle).
    uint8_t chunk[1 << 16];
    for (;;) {
        if (getppid() != parent) break;
        struct pollfd p[2] = {{0, POLLIN, 0}, {1, (short)(out.empty() ? 0 : POLLOUT), 0}};
        poll(p, 2, active() ? 0 : 5);
        ssize_t n = read(0, chunk, sizeof chunk);
        if (n > 0) {
            if (in_pos == in.size()) { in.clear(); in_pos = 0; }
            in.insert(in.end(), chunk, chunk + n);
        } else if (n == 0) {
            break;                                   // a pipe closed: done
        } else if (errno == EIO) {
            usleep(5000);                            // pty with no host attached
        }
        if (!out.empty()) {
            ssize_t w = write(1, out.data(), out.size());
            if (w > 0) out.erase(out.begin(), out.begin() + w);
        }
        for (int i = 0; i < BATCH && active(); i++) step();
        publish();
    }
    top->final();
    delete top;
    return 0;
}
