"""Fixed facts of the Zynq / PYNQ target: boards, clock range, AXI codes, DMA limits, IP identity."""

AXI_OKAY = 0b00
AXI_SLVERR = 0b10

#: The Zynq boards the export knows: board name -> FPGA part and Vivado board-part pattern.
ZYNQ_BOARDS = {
    "pynq-z1": {"part": "xc7z020clg400-1", "board_part": "*:pynq-z1:part0:*",
                "vendor": "Digilent"},
    "pynq-z2": {"part": "xc7z020clg400-1", "board_part": "*:pynq-z2:part0:*",
                "vendor": "TUL"},
}

#: Default PL clock (FCLK_CLK0) and the range the PS7 clock generator can give the fabric.
DEFAULT_MHZ = 100.0
MHZ_RANGE = (10.0, 250.0)

#: Smallest AXI-Lite address width: Vivado's address editor maps at least 4 KiB per slave.
MIN_ADDR_WIDTH = 12

#: Stream widths the AXI DMA supports (c_m_axis_mm2s_tdata_width / c_s_axis_s2mm_tdata_width).
DMA_STREAM_WIDTHS = (8, 16, 32, 64, 128, 256, 512, 1024)

#: Width of the DMA's buffer-length register: 26 bits (64 MiB - 1) instead of PYNQ's 14 (16 KiB).
DMA_LENGTH_WIDTH = 26

IP_VENDOR = "hetflow"
IP_LIBRARY = "hetflow"
IP_VERSION = "1.0"

VIVADO_NOTE = ("Vivado is proprietary and does not run where hetflow is developed and tested: "
               "this file was generated and checked (syntax, names) but never run by Vivado.")

DRIVER_FORMAT = "hetflow-pynq-driver"
DRIVER_VERSION = 1
