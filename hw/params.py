"""A kernel configuration's elaboration parameters, as one immutable, hashable value."""

__all__ = ["Params"]


class Params(dict):
    """Validated elaboration parameters; also readable as attributes.

    A ``Params`` is the identity of a kernel configuration: the runtime, the
    simulated boards and the shell's own memo key their caches on
    ``(kernel_cls, params)``.  Two ``Params`` are equal when they hold the same
    names and values in any order, and equal ones hash alike (values are the
    plain ints :meth:`Kernel.bind` makes, so ``numpy.int64(2)`` and ``"2"``
    give the key ``2`` gives).  It is read-only, since a key that changed after
    it was stored could never be found again; build a new one with
    ``Kernel.bind(**{**p, "name": value})``.
    """

    def __getattr__(self, name):
        try:
            return self[name]
        except KeyError:
            raise AttributeError(name) from None

    def __hash__(self):
        # Sorted, so that insertion order (which dict equality ignores) cannot change it.
        # Kept once computed: the runtime hashes the same Params on every call (memo keys),
        # and they cannot change.
        try:
            return self.__dict__["_hash"]
        except KeyError:
            value = self.__dict__["_hash"] = hash(tuple(sorted(self.items())))
            return value

    def __reduce__(self):
        # dict subclasses pickle and copy by filling an empty instance through
        # __setitem__, which is closed here; rebuild from a plain dict instead.
        return (type(self), (dict(self),))

    def _read_only(self, *args, **kwargs):
        raise TypeError(f"Params are read-only (they key caches); make new ones with "
                        f"Kernel.bind(**{{**params, ...}}), not by changing {dict(self)}")

    __setitem__ = __delitem__ = __ior__ = _read_only
    clear = pop = popitem = setdefault = update = _read_only
