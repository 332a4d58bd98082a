"""What grows in the soak: the diagnostics behind ``python -m bench soak --soak-trace``.

A probe, not product code: it watches the running dashboard from inside its process and prints
what it saw at the end. Cheap figures come with every sample; the costly ones at checkpoints
(every ``--soak-trace-every`` seconds):

* ``py MB``: memory in Python's own allocator (``sys.getallocatedblocks`` is blocks;
  pymalloc's arenas from ``sys._debugmallocstats``: 1 MiB each (3.10+), allocated minus reclaimed);
* glibc's heap (``mallinfo2``): bytes in use, free bytes held (fragmentation) and mmapped;
* objects the collector tracks, by type (the frozen start-up objects are not among them, so
  the count is what was made since start-up and is still alive);
* every list/dict/deque/set of 50 entries or more, by id: the ones that grew between the first
  checkpoint and the last are printed with what holds them;
* Textual's LRU/FIFO caches: entries against their limits;
* with ``--soak-tracemalloc``: tracemalloc snapshots (started at the first checkpoint) compared
  by traceback, the first checkpoint against the last (slows the app; RSS then includes the
  traces, so read RSS from a run without it).
"""

from __future__ import annotations

import ctypes
import functools
import gc
import os
import sys
import tempfile
import tracemalloc
from collections import Counter, deque
from typing import Any


class _Mallinfo2(ctypes.Structure):
    _fields_ = [(name, ctypes.c_size_t) for name in
                ("arena", "ordblks", "smblks", "hblks", "hblkhd", "usmblks", "fsmblks",
                 "uordblks", "fordblks", "keepcost")]


@functools.cache
def _mallinfo2() -> Any:
    """libc's ``mallinfo2``, looked up once (a CDLL each call would itself leave objects behind)."""
    try:
        fn = ctypes.CDLL("libc.so.6").mallinfo2
    except (OSError, AttributeError):
        return None
    fn.restype = _Mallinfo2
    return fn


def mallinfo() -> dict[str, float]:
    """glibc heap figures in MB (empty where the C library has no ``mallinfo2``)."""
    fn = _mallinfo2()
    if fn is None:
        return {}
    m = fn()
    mb = 1024 * 1024
    return {"malloc_used": m.uordblks / mb, "malloc_free": m.fordblks / mb,
            "malloc_mmap": m.hblkhd / mb, "malloc_arena": m.arena / mb}


def pymalloc_arenas() -> dict[str, int]:
    """Arenas in use and their high-water mark, from ``sys._debugmallocstats`` (written to fd 2)."""
    with tempfile.TemporaryFile(mode="w+") as out:
        sys.stderr.flush()
        saved = os.dup(2)
        try:
            os.dup2(out.fileno(), 2)
            sys._debugmallocstats()
        finally:
            os.dup2(saved, 2)
            os.close(saved)
        out.seek(0)
        text = out.read()
    found: dict[str, int] = {}
    for line in text.splitlines():
        for key in ("# arenas allocated total", "# arenas reclaimed", "# arenas highwater mark",
                    "# arenas allocated current"):
            if line.startswith(key):
                found[key.removeprefix("# arenas ")] = int(line.split("=")[1].replace(",", ""))
    return found


def _describe(obj: Any, depth: int = 3) -> str:
    """What holds ``obj``: ``Owner.attr`` where an instance's ``__dict__`` or slot refers to it,
    ``holder[key]`` (followed up ``depth`` levels) where a plain dict does."""
    names: list[str] = []
    here = sys._getframe()
    for ref in gc.get_referrers(obj):
        if ref is here or type(ref).__name__ in ("frame", "list"):
            continue
        if isinstance(ref, dict):
            owners = [o for o in gc.get_referrers(ref) if getattr(o, "__dict__", None) is ref]
            key = next((k for k, v in ref.items() if v is obj), "?")
            if owners:
                names.append(f"{type(owners[0]).__module__}.{type(owners[0]).__qualname__}.{key}")
            elif "__name__" in ref and ref.get(key) is obj:
                names.append(f"module {ref['__name__']}.{key}")
            elif depth > 0:
                names.append(f"({_describe(ref, depth - 1)})[{key!r:.60}]")
            else:
                names.append(f"dict[{key!r:.60}]")
        elif hasattr(type(ref), "__slots__"):
            for slot in getattr(type(ref), "__slots__", ()):
                if getattr(ref, slot, None) is obj:
                    names.append(f"{type(ref).__module__}.{type(ref).__qualname__}.{slot}")
        else:
            names.append(f"{type(ref).__module__}.{type(ref).__qualname__}")
        if len(names) >= 2:
            break
    return " | ".join(names) or "?"


def _sample(obj: Any) -> str:
    """A few of the newest entries of a container, for telling what it is."""
    try:
        items = list(obj.items())[-3:] if isinstance(obj, dict) else list(obj)[-3:]
    except Exception:  # noqa: BLE001 - a diagnostic: whatever it is, show something
        return "?"
    return ", ".join(f"{x!r:.80}" for x in items)


def lru_caches() -> list[tuple[str, int, int]]:
    """Every ``functools.lru_cache`` reachable from a module or a class in one: (name, size, limit)."""
    found: dict[int, tuple[str, int, int]] = {}
    wrapper = type(functools.lru_cache(1)(len))

    def look(name: str, value: Any) -> None:
        if isinstance(value, wrapper) and id(value) not in found:
            info = value.cache_info()
            found[id(value)] = (name, info.currsize, info.maxsize or 0)

    for mod_name, module in list(sys.modules.items()):
        for attr, value in list(getattr(module, "__dict__", {}).items()):
            look(f"{mod_name}.{attr}", value)
            if isinstance(value, type):
                for cattr, cvalue in list(vars(value).items()):
                    look(f"{mod_name}.{attr}.{cattr}", getattr(cvalue, "__func__", cvalue))
    return sorted(found.values(), key=lambda x: -x[1])


def cell_len_cache(objects: list[Any]) -> tuple[int, int, Counter[str]]:
    """rich's ``cached_cell_len`` cache (the dict whose keys are ``(text, "auto")``, or the text
    alone where it was called with one argument): entries, bytes of its keys, texts, list links
    and table, and its texts by their first word."""
    for o in objects:
        if type(o) is dict and len(o) > 100:
            keys = list(o)
            if not any(type(k) is tuple and len(k) == 2 and k[1] == "auto" for k in keys[:50]):
                continue
            texts = [k[0] if type(k) is tuple else k for k in keys]
            size = sys.getsizeof(o) + sum(sys.getsizeof(t) + 64 for t in texts) + sum(
                sys.getsizeof(k) for k in keys if type(k) is tuple)
            words = Counter((str(t).split() or ["(blank)"])[0][:12] for t in texts)
            return len(o), size, words
    return 0, 0, Counter()


class Tracer:
    def __init__(self, use_tracemalloc: bool, frames: int = 8) -> None:
        self.use_tracemalloc = use_tracemalloc
        self.frames = frames
        self.checkpoints: list[dict[str, Any]] = []
        self.first_snapshot: tracemalloc.Snapshot | None = None
        self.last_snapshot: tracemalloc.Snapshot | None = None
        self.first_sizes: dict[int, tuple[str, int]] = {}
        self.last_sizes: dict[int, tuple[str, int]] = {}
        self.growers: list[tuple[int, str, int, int, str, str]] = []

    @staticmethod
    def cheap() -> dict[str, float]:
        out: dict[str, float] = {}
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith(("RssAnon:", "RssFile:")):
                    out[line.split(":")[0].lower().replace("rss", "rss_")] = int(line.split()[1]) / 1024
        out["blocks_k"] = sys.getallocatedblocks() / 1000
        out.update(mallinfo())
        return out

    def checkpoint(self, minute: float, app: Any) -> None:
        snapshot = None
        if self.use_tracemalloc and self.checkpoints:
            # before this probe builds its own lists, and without this file's and tracemalloc's
            # allocations: what the app holds, not what the probe does
            snapshot = tracemalloc.take_snapshot().filter_traces(
                [tracemalloc.Filter(False, __file__), tracemalloc.Filter(False, tracemalloc.__file__)])
        arenas = pymalloc_arenas()
        objects = gc.get_objects()
        types = Counter(type(o).__name__ for o in objects)
        sizes: dict[int, tuple[str, int]] = {}
        textual_caches: list[tuple[str, int, int]] = []
        for o in objects:
            t = type(o)
            if t in (list, dict, deque, set) or t.__name__ == "OrderedDict":
                n = len(o)
                if n >= 50:
                    sizes[id(o)] = (t.__name__, n)
            elif t.__name__ in ("LRUCache", "FIFOCache"):
                textual_caches.append((t.__name__, len(o), o._maxsize))
        kinds: Counter[str] = Counter()
        for o in objects:
            kind = type(o).__name__
            if kind == "builtin_function_or_method":
                kinds[f"builtin {type(getattr(o, '__self__', None)).__name__}.{o.__name__}"] += 1
            elif kind == "coroutine":
                kinds[f"coroutine {o.__qualname__}"] += 1
            elif kind in ("Task", "Future"):
                cb = [getattr(c[0] if isinstance(c, tuple) else c, "__qualname__", "?")
                      for c in (getattr(o, "_callbacks", None) or ())]
                kinds[f"{kind} done={o.done()} callbacks={cb[:2]}"] += 1
        cp: dict[str, Any] = {
            "kinds": kinds,
            "minute": minute, "objects": len(objects), "types": types,
            "arenas": arenas.get("allocated current",
                                 arenas.get("allocated total", 0) - arenas.get("reclaimed", 0)),
            "arenas_high": arenas.get("highwater mark", 0),
            "lru": lru_caches(),
            "cell_len": cell_len_cache(objects),
            "textual_caches": (len(textual_caches), sum(c[1] for c in textual_caches),
                               sum(c[2] for c in textual_caches)),
            **self.cheap(),
        }
        if not self.checkpoints:
            self.first_sizes = sizes  # by id (not kept alive: that would change what is freed)
            if self.use_tracemalloc:
                tracemalloc.start(self.frames)
        else:
            self.last_sizes = sizes
            grew = []
            for key, (name, n) in sizes.items():
                before = self.first_sizes.get(key)
                if before is not None and n > before[1]:
                    grew.append((n - before[1], key, name, before[1], n))
            grew.sort(reverse=True)
            byid = {id(o): o for o in objects}
            self.growers = [(key, name, n0, n1, _describe(byid[key]), _sample(byid[key]))
                            for _, key, name, n0, n1 in grew[:15]]
            if snapshot is not None:
                self.last_snapshot = snapshot
        if snapshot is not None and self.first_snapshot is None and len(self.checkpoints) == 1:
            self.first_snapshot = snapshot
        del objects
        self.checkpoints.append(cp)

    def report(self) -> None:
        cps = self.checkpoints
        if not cps:
            return
        print("\ncheckpoints (objects: tracked by the collector and not frozen; "
              "arenas: pymalloc's, 1 MiB each on 3.10+)")
        print("(RSS anon/file MB: heap and other private memory / pages of mapped files such as code)")
        print(f"{'min':>6} {'anon':>6} {'file':>6} {'objects':>8} {'blocks k':>9} {'arenas':>6} {'high':>5} "
              f"{'malloc used':>11} {'free':>6} {'mmap':>6}  textual caches (n, entries, limit)")
        for cp in cps:
            print(f"{cp['minute']:6.1f} {cp.get('rss_anon', 0):6.1f} {cp.get('rss_file', 0):6.1f} "
                  f"{cp['objects']:8,} {cp['blocks_k']:9.1f} {cp['arenas']:6} {cp['arenas_high']:5} "
                  f"{cp.get('malloc_used', 0):11.1f} {cp.get('malloc_free', 0):6.1f} {cp.get('malloc_mmap', 0):6.1f}  "
                  f"{cp['textual_caches']}")
        print("\nfunctools.lru_cache fill (entries/limit), per checkpoint; the ten fullest at the end")
        last = {name: (n, limit) for name, n, limit in cps[-1]["lru"]}
        for name, _n, limit in cps[-1]["lru"][:10]:
            series = [next((x[1] for x in cp["lru"] if x[0] == name), 0) for cp in cps]
            print(f"  {name:60} {' '.join(f'{x:5}' for x in series)}  / {limit}")
        print(f"  all {len(last)} lru caches: " + " ".join(f"{sum(x[1] for x in cp['lru']):6}" for cp in cps)
              + f"  / {sum(v[1] for v in last.values())}")
        n, size, words = cps[-1]["cell_len"]
        print(f"  rich cached_cell_len at the end: {n} texts, ~{size / 1024:.0f} KiB (keys, texts, list "
              f"links, table); by first word: {words.most_common(8)}")
        if len(cps) >= 2:
            a, b = cps[0]["types"], cps[-1]["types"]
            diff = Counter({k: b[k] - a[k] for k in set(a) | set(b)})
            print(f"\nobject types, at each checkpoint (the 20 largest changes, minute {cps[0]['minute']:.1f} "
                  f"-> {cps[-1]['minute']:.1f})")
            for name, d in sorted(diff.items(), key=lambda kv: -abs(kv[1]))[:20]:
                print(f"  {name:28} " + " ".join(f"{cp['types'][name]:6,}" for cp in cps) + f"  ({d:+,})")
            ka, kb = cps[0]["kinds"], cps[-1]["kinds"]
            kdiff = {k: kb[k] - ka[k] for k in set(ka) | set(kb)}
            print("\nbound builtins (by owner type), coroutines, tasks and futures (the 15 largest changes)")
            for name, d in sorted(kdiff.items(), key=lambda kv: -abs(kv[1]))[:15]:
                print(f"  {name[:70]:70} " + " ".join(f"{cp['kinds'][name]:5,}" for cp in cps) + f"  ({d:+,})")
            print("\ncontainers (>= 50 entries) that grew, first checkpoint -> last")
            for _key, name, n0, n1, held, sample in self.growers:
                print(f"  {name:12} {n0:7,} -> {n1:7,}  held by {held}\n{'':26}newest: {sample}")
        if self.first_snapshot is not None and self.last_snapshot is not None:
            for key in ("filename", "traceback"):
                print(f"\ntracemalloc, checkpoint 2 -> last, by {key} (top 12)")
                stats = self.last_snapshot.compare_to(self.first_snapshot, key)
                for stat in stats[:12]:
                    print(f"  {stat.size_diff / 1024:+9.1f} KiB {stat.count_diff:+8,} blocks  "
                          f"(now {stat.size / 1024:.1f} KiB)")
                    lines = stat.traceback.format(limit=self.frames if key == "traceback" else 1)
                    for line in lines[-(self.frames * 2):] if key == "traceback" else lines[:1]:
                        print("      " + line.strip())
