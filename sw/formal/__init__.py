"""``hetflow.formal`` (folder ``sw/formal``): formal proofs with SymbiYosys, pip only.

:func:`run` (and :func:`prove`, :func:`bmc`, :func:`cover`) takes an Amaranth
formal top, runs it through ``yowasp-sby`` with YoWASP's Yosys and z3, and
returns a :class:`ProofResult` whose failures name the property and its
Python ``file:line``.  :mod:`hetflow.formal.bridge` proves the gateware frame
bridge's safety with it; ``python -m hetflow.formal`` runs those proofs and
prints what was proven, to what depth, in how long.
"""

from .results import Check, ProofResult
from .runner import MODES, SOLVERS, FormalError, bmc, cover, programs, prove, run

__all__ = ["Check", "ProofResult", "FormalError", "MODES", "SOLVERS", "run", "prove", "bmc",
           "cover", "programs"]
