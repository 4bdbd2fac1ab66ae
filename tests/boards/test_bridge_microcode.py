"""The bridge executor's microprogram, read as a graph, and its assembler's refusals.

The program is data (hetflow.boards.bridge.routines): these tests walk it without
simulating it.  Every opcode's jump-table entry must lead, on every path, to a response
whose last byte is flagged and then to DONE; the behaviour itself is tests/boards/
test_bridge.py's.
"""

import pytest

from hetflow.boards.bridge.microcode import ADDRESS_BITS, Cond, Program
from hetflow.boards.bridge.routines import JUMP_TABLE, executor_program
from hetflow.hw.errors import ParamError
from hetflow.link import protocol as P

PING = P.MAGIC + bytes(11)


def program():
    p = executor_program(PING)
    return p, p.assemble()


def successors(image, address):
    """Addresses a word may go to (a dispatch: its whole jump table)."""
    word = image[address]
    cond = word.get("cond", Cond.WAIT_FRAME)
    if cond is Cond.DISPATCH:
        return [word["arg"] + code for code in range(16)]
    if cond in (Cond.WAIT_FRAME, Cond.NEVER):
        return [word["next"]]
    return [word["next"], word["arg"]]


def paths_to_done(image, start):
    """Every word reachable from ``start`` before DONE (address 0), and the edges into it."""
    seen, into_done, todo = set(), [], [start]
    while todo:
        address = todo.pop()
        if address in seen:
            continue
        seen.add(address)
        for nxt in successors(image, address):
            if nxt == 0:
                into_done.append(address)
            else:
                todo.append(nxt)
    return seen, into_done


def test_the_program_fits_its_block_ram():
    p, image = program()
    assert len(image) == 1 << ADDRESS_BITS
    assert max(p.words) < 1 << ADDRESS_BITS


def test_every_opcode_ends_in_a_response_whose_last_byte_is_flagged():
    _, image = program()
    for code in range(16):
        seen, into_done = paths_to_done(image, JUMP_TABLE + code)
        assert into_done, f"opcode {code}: never reaches DONE"
        assert 1 not in seen, f"opcode {code}: back to IDLE without DONE"
        for address in into_done:
            word = image[address]
            # The data loop's last byte is flagged by its condition (MEM_READ's count).
            assert word.get("emit") and (word.get("last") or word["cond"] is Cond.LAST_BYTE), \
                f"opcode {code}: word {address} goes to DONE without a last byte"
        # A byte flagged last is the response's end: DONE follows it.
        for address in seen:
            word = image[address]
            if word.get("last"):
                assert word["next"] == 0 and word.get("cond", Cond.NEVER) is Cond.NEVER


def test_every_word_reachable_from_idle_can_finish():
    _, image = program()
    reachable, _ = paths_to_done(image, 1)
    for address in reachable:
        assert paths_to_done(image, address)[1], f"word {address} never reaches DONE"


def test_each_opcode_answers_with_its_response_length():
    # A straight path through each fixed-size OK response: its bytes after seq and the
    # frame length field count the frame length it sends.
    p, image = program()
    for label, payload in (("EMPTY", 0), ("ERROR", 0), ("PING_RESPONSE", 15),
                           ("VALUE_RESPONSE", 4), ("RUN_RESPONSE", 9)):
        address = p.labels[label]
        sent = []
        while address != 0:
            word = image[address]
            assert word.get("emit"), f"{label}: word {address} sends nothing"
            sent.append(word.get("arg", 0))
            address = word["next"]
        assert len(sent) == 1 + 4 + 1 + 4 + payload, label
        assert int.from_bytes(bytes(sent[1:5]), "little") == 5 + payload, label
        assert int.from_bytes(bytes(sent[6:10]), "little") == payload, label
    ping = p.labels["PING_RESPONSE"]
    assert bytes(image[ping + 10 + i]["arg"] for i in range(15)) == PING


def test_the_assembler_refuses_a_label_defined_twice():
    p = Program()
    p.label("A")
    with pytest.raises(ParamError, match=r"^microcode label 'A' is defined twice$"):
        p.label("A")


def test_the_assembler_refuses_an_undefined_label():
    p = Program()
    p.word(next="NOWHERE")
    with pytest.raises(ParamError, match=r"^microcode label 'NOWHERE' is not defined$"):
        p.assemble()


def test_the_assembler_refuses_an_address_used_twice():
    p = Program()
    p.word()
    p.at(0)
    with pytest.raises(ParamError, match=r"^microcode address 0 is used twice$"):
        p.word()


def test_the_assembler_refuses_a_program_too_large():
    p = Program()
    p.at(1 << ADDRESS_BITS)
    p.word()
    with pytest.raises(ParamError, match=r"^the microprogram needs 257 words; it has room "
                                         r"for 256$"):
        p.assemble()
