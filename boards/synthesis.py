"""The Yosys synthesis a board build runs, for anything that needs the same netlist.

A bitstream build (:mod:`hetflow.boards.build`) lets the board's amaranth-boards
platform write its Yosys script from the platform's template, with hetflow's
options on top (:func:`yosys_overrides`: ``synth_ice40 -dsp`` on iCE40, the
debug wires of typed payloads hidden).  :func:`synthesis_commands` renders that
very template, with those very options, for an empty design and returns the
commands between reading the design and writing the result: the netlist that
:mod:`hetflow.boards.netlist` simulates comes from the synthesis a build runs,
and neither the ``synth_*`` command nor its options are written down twice.
"""

from amaranth.hdl import Module

from ..hw.errors import HetflowError

__all__ = ["yosys_overrides", "synthesis_commands"]


def yosys_overrides(board):
    """The platform overrides a build of ``board`` passes that change what Yosys does.

    Returns
    -------
    dict
        ``script_after_read`` always; ``synth_opts`` where the family needs options
        (iCE40: ``-dsp``, without which Yosys leaves the SB_MAC16 DSPs unused).
    """
    overrides = {
        # Typed stream payloads (data.ArrayLayout) leave debug wires named like
        # x__payload[0]; with such names this Yosys's ABC step fails.  They name nothing
        # a report or a constraint uses: make them private.
        "script_after_read": "rename -hide w:*[[]*",
    }
    if board.family == "ice40":
        overrides["synth_opts"] = ["-dsp"]
    return overrides


def synthesis_commands(board, top):
    """The Yosys commands a build of ``board`` runs on a design whose top module is ``top``.

    The board's platform writes its build plan for an empty design named
    ``top`` (a tenth of a second; no tool runs), and the commands of its Yosys
    script after the design is read are returned, without the step that writes
    the result (the caller writes what it needs).

    Returns
    -------
    list of str
        E.g. ``["rename -hide w:*[[]*", "synth_ice40 -dsp -top hetflow_gemm"]``.
    """
    platform = board.make_platform()
    plan = platform.build(Module(), name=top, do_build=False, **yosys_overrides(board))
    script = plan.files.get(f"{top}.ys")
    if not isinstance(script, str):
        raise HetflowError(f"board '{board.name}': its platform wrote no Yosys script "
                           f"({top}.ys); is amaranth-boards too old or too new?")
    lines = [line.strip() for line in script.splitlines()]
    read = f"read_rtlil {top}.il"
    if read not in lines:
        raise HetflowError(f"board '{board.name}': its platform's Yosys script does not read "
                           f"{top}.il; cannot tell its synthesis commands apart")
    commands = []
    for line in lines[lines.index(read) + 1:]:
        if not line or line.startswith("#") or line.startswith("write_json "):
            continue
        commands.append(" ".join(line.split()))
    if not any(c.startswith("synth") for c in commands):
        raise HetflowError(f"board '{board.name}': its platform's Yosys script has no synth "
                           f"command after reading the design")
    return commands
