"""feeds.models generates each model's ``_parse``/``from_wire``/``to_wire`` on the class's first
use, not at import (generating all of them was a third of the module's import, on every start).
Checked in a fresh interpreter: any other test may already have used the classes."""

from __future__ import annotations

import json
import subprocess
import sys

ACCOUNT_UPDATE = {  # the spec's example, shortened
    "e": "ACCOUNT_UPDATE", "E": 1564745798939, "T": 1564745798938, "i": "SfsR",
    "a": {
        "m": "ORDER",
        "B": [{"a": "BTC", "wb": "122624.12345678", "cw": "100.12345678", "bc": "50.12345678"}],
        "P": [{"s": "BTCUSD_200925", "pa": "20", "ep": "6563.6", "bep": "6563.7", "cr": "0",
               "up": "2850.21200000", "mt": "isolated", "iw": "13200.70726908", "ps": "LONG"}],
    },
}

CODE = """
import json, sys
import feeds.models as m

def state(cls):
    return {n: type(vars(cls)[n]).__name__ for n in ("_parse", "from_wire", "to_wire") if n in vars(cls)}

models = [c for c in vars(m).values() if isinstance(c, type) and "_WIRE_FIELDS" in vars(c) and c is not m._Wire]
out = {"at_import": {c.__name__: state(c) for c in models}}
event = m.parse_user_event(json.loads(sys.argv[1]))
out["round_trip"] = event.to_wire() == json.loads(sys.argv[1])
out["after_use"] = {c.__name__: state(c) for c in (m.AccountUpdate, m.BalanceUpdate, m.PositionUpdate,
                                                   m.OrderTradeUpdate, m.DepthUpdate)}
print(json.dumps(out))
"""


def test_importing_the_models_generates_no_code_and_first_use_generates_only_what_is_used() -> None:
    done = subprocess.run([sys.executable, "-c", CODE, json.dumps(ACCOUNT_UPDATE)], capture_output=True,
                          text=True, timeout=60, check=True)
    out = json.loads(done.stdout)
    at_import = out["at_import"]
    assert len(at_import) >= 20
    placeholders = {"_parse": "_Generated", "from_wire": "_Generated", "to_wire": "_Generated"}
    # KlineEvent wraps _parse with a from_wire of its own: that one is left alone
    assert at_import.pop("KlineEvent") == {"_parse": "_Generated", "from_wire": "classmethod", "to_wire": "_Generated"}
    assert at_import == dict.fromkeys(at_import, placeholders)
    assert out["round_trip"]
    generated = {"_parse": "staticmethod", "from_wire": "staticmethod", "to_wire": "function"}
    after = out["after_use"]
    # the event's class and its nested ones now hold the generated functions themselves
    # (no placeholder left in the way of the next frame); the others are still untouched
    assert after["AccountUpdate"] == generated
    assert after["BalanceUpdate"] == generated and after["PositionUpdate"] == generated
    assert after["OrderTradeUpdate"] == placeholders and after["DepthUpdate"] == placeholders
