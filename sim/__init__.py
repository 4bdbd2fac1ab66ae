"""hetflow.sim: Verilog export, simulators, the generic cocotb bench."""
