"""Gowin builds through nextpnr-himbaechel (YoWASP) and Apicula's gowin_pack.

Amaranth 0.5's Gowin platform (Apicula toolchain) calls the legacy
``nextpnr-gowin --family ...``; current nextpnr builds Gowin parts with the
``himbaechel`` architecture, which takes the family and the constraints as
``--vopt`` options.  :func:`himbaechel` derives a platform class whose place
and route step calls ``nextpnr-himbaechel`` that way (the build script reads
``NEXTPNR_HIMBAECHEL``); synthesis (``synth_gowin``) and packing
(``gowin_pack``) are the platform's own.
"""

__all__ = ["himbaechel"]

_PNR_TEMPLATE = r"""
{{invoke_tool("nextpnr-himbaechel")}}
    {{quiet("--quiet")}}
    {{get_override("nextpnr_opts")|options}}
    --log {{name}}.tim
    --device {{platform.part}}
    --vopt family={{platform._chipdb_device}}
    --vopt cst={{name}}.cst
    --json {{name}}.syn.json
    --write {{name}}.pnr.json
"""


def himbaechel(platform_cls):
    """A subclass of the Gowin ``platform_cls`` that places and routes with himbaechel."""

    class Himbaechel(platform_cls):
        @property
        def required_tools(self):
            return ["yosys", "nextpnr-himbaechel", "gowin_pack"]

        @property
        def command_templates(self):
            templates = list(super().command_templates)
            for i, t in enumerate(templates):
                if "nextpnr-gowin" in t:
                    templates[i] = _PNR_TEMPLATE
            return templates

    Himbaechel.__name__ = Himbaechel.__qualname__ = f"{platform_cls.__name__}Himbaechel"
    return Himbaechel
