"""hetflow.boards: board descriptions, open-toolchain builds and programming."""
