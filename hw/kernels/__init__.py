"""The built-in kernels. Each module holds one kernel: RTL, golden model, metadata."""
