"""Program a board with a built bitstream through openFPGALoader.

Refuses a bitstream whose sha256 differs from its report.json.  --dry-run
prints the command (one argument per element of a JSON list) and runs nothing.
"""

import json


def add_arguments(parser):
    parser.add_argument("dir", metavar="DIR", help="output directory of 'hetflow build'")
    parser.add_argument("--dry-run", "-n", action="store_true",
                        help="print the openFPGALoader command instead of running it")


def run(args):
    from ..boards.program import program, program_command
    if args.dry_run:
        print(json.dumps(program_command(args.dir)))
        return 0
    text = program(args.dir)
    if text:
        print(text)
    return 0
