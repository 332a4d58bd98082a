"""TP/SL attached to an entry (feeds.brackets): trigger prices by hand, then the whole life of a
bracket against the stepped simulator over loopback (placed on the fill, resized as it grows,
OCO, closed by hand, the entry cancelled unfilled, a restart, and the -4120 algo-order path)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from feeds.brackets import (
    SL,
    TP,
    Bracket,
    BracketManager,
    BracketSpec,
    ExitLevel,
    ExitOrder,
    check_spec,
    exit_order,
    exit_trigger,
)
from feeds.decimals import fmt_plain
from feeds.filters import OrderRequest
from feeds.journal import Journal
from feeds.rest import RestClient
from feeds.signing import HmacSigner
from feeds.sim import DEMO_API_KEY, SimExchange
from feeds.symbols import SymbolInfo
from tests.venue_rig import VenueRig, running
from tests.waiting import eventually

D = Decimal
SYM = "BTCUSD_PERP"
BTC = SymbolInfo(
    symbol=SYM, pair="BTCUSD", contract_type="PERPETUAL", contract_size=100,
    tick_size=D("0.1"), min_price=D("1000"), max_price=D("4529764"),
    step_size=D("1"), min_qty=D("1"), max_qty=D("1000000"),
    market_step_size=D("1"), market_min_qty=D("1"), market_max_qty=D("60000"),
    multiplier_up=D("1.05"), multiplier_down=D("0.95"), base_asset="BTC", margin_asset="BTC",
)
TICK = D("0.1")


# ---------------------------------------------------------------------- trigger prices by hand
@pytest.mark.parametrize(("kind", "side", "avg", "level", "expected"), [
    # on the tick: 50000 x 1.02 = 51000, 50000 x 0.99 = 49500
    (TP, "BUY", "50000.0", ExitLevel(percent=D(2)), "51000.0"),
    (SL, "BUY", "50000.0", ExitLevel(percent=D(1)), "49500.0"),
    # an average between ticks (a harmonic mean of fills): 50123.45 x 1.01 = 50624.6845 -> down
    # to 50624.6 (towards the entry); x 0.99 = 49622.2155 -> up to 49622.3 (towards the entry)
    (TP, "BUY", "50123.45", ExitLevel(percent=D(1)), "50624.6"),
    (SL, "BUY", "50123.45", ExitLevel(percent=D(1)), "49622.3"),
    # a short: the TP below (49622.2155 -> 49622.3), the SL above (50624.6845 -> 50624.6)
    (TP, "SELL", "50123.45", ExitLevel(percent=D(1)), "49622.3"),
    (SL, "SELL", "50123.45", ExitLevel(percent=D(1)), "50624.6"),
    # a percentage smaller than a tick never lands on or past the entry: 50000.05 x 1.0000001 =
    # 50000.055 -> down is 50000.0 (below the entry!) -> the first tick above, 50000.1; the SL's
    # 50000.045 -> up is 50000.1 (above it!) -> the first tick below, 50000.0
    (TP, "BUY", "50000.05", ExitLevel(percent=D("0.00001")), "50000.1"),
    (SL, "BUY", "50000.05", ExitLevel(percent=D("0.00001")), "50000.0"),
    # on the tick, the first tick on each side
    (TP, "BUY", "50000.0", ExitLevel(percent=D("0.00001")), "50000.1"),
    (SL, "BUY", "50000.0", ExitLevel(percent=D("0.00001")), "49999.9"),
    (TP, "SELL", "50000.0", ExitLevel(percent=D("0.00001")), "49999.9"),
    (SL, "SELL", "50000.0", ExitLevel(percent=D("0.00001")), "50000.1"),
    # absolute prices as given, on their side of the fill
    (TP, "BUY", "50000.0", ExitLevel(price=D("51000.0")), "51000.0"),
    (SL, "SELL", "50000.0", ExitLevel(price=D("50500.0")), "50500.0"),
])
def test_exit_trigger_by_hand(kind: str, side: str, avg: str, level: ExitLevel, expected: str) -> None:
    assert exit_trigger(kind, side, D(avg), level, TICK) == D(expected)


@pytest.mark.parametrize(("kind", "side", "level"), [
    (TP, "BUY", ExitLevel(price=D("49000.0"))),  # a long's TP below its fill: it would fire at once
    (SL, "BUY", ExitLevel(price=D("50000.0"))),  # on the fill
    (TP, "SELL", ExitLevel(price=D("50000.1"))),
    (SL, "BUY", ExitLevel(percent=D(100))),  # a zero price
    (TP, "BUY", ExitLevel(percent=D(0))),
])
def test_exit_trigger_refuses_the_wrong_side(kind: str, side: str, level: ExitLevel) -> None:
    assert exit_trigger(kind, side, D("50000.0"), level, TICK) is None


def test_exit_orders_are_reduce_only_or_on_the_hedge_leg() -> None:
    one_way = exit_order(TP, symbol=SYM, entry_side="BUY", position_side="BOTH", quantity=D(3),
                         trigger=D("51000.0"), working_type="MARK_PRICE", client_id="coinm-tp-1")
    assert one_way.to_params() == {
        "symbol": SYM, "side": "SELL", "type": "TAKE_PROFIT_MARKET", "quantity": "3", "stopPrice": "51000",
        "workingType": "MARK_PRICE", "reduceOnly": "true", "newClientOrderId": "coinm-tp-1"}
    hedge = exit_order(SL, symbol=SYM, entry_side="SELL", position_side="SHORT", quantity=D(2),
                       trigger=D("52000.0"), working_type="CONTRACT_PRICE")
    params = hedge.to_params()
    assert params["type"] == "STOP_MARKET" and params["side"] == "BUY" and params["positionSide"] == "SHORT"
    assert "reduceOnly" not in params and "closePosition" not in params


def limit_buy(price: str = "50000.0", **kw: Any) -> OrderRequest:
    return OrderRequest(symbol=SYM, side="BUY", type="LIMIT", time_in_force="GTC", quantity=D(5),
                        price=D(price), **kw)


@pytest.mark.parametrize(("order", "spec", "field", "words"), [
    (limit_buy(), BracketSpec(), "order", "Neither"),
    (limit_buy(), BracketSpec(ExitLevel(price=D("49000.0"))), "tp", "above the entry price 50000"),
    (limit_buy(), BracketSpec(None, ExitLevel(price=D("50100.0"))), "sl", "below the entry price 50000"),
    (limit_buy(), BracketSpec(None, ExitLevel(price=D("49000.05"))), "sl", "-4014"),
    (limit_buy(), BracketSpec(None, ExitLevel(percent=D(100))), "sl", "less than 100"),
    (limit_buy(), BracketSpec(ExitLevel(percent=D(-1))), "tp", "more than 0"),
    (limit_buy(reduce_only=True), BracketSpec(ExitLevel(percent=D(1))), "order", "reduce-only"),
    (limit_buy(position_side="SHORT"), BracketSpec(ExitLevel(percent=D(1))), "order", "hedge leg"),
    (OrderRequest(symbol=SYM, side="BUY", type="STOP_MARKET", quantity=D(1), stop_price=D("51000.0")),
     BracketSpec(ExitLevel(percent=D(1))), "order", "LIMIT or MARKET"),
    # the last price is already under this stop: it would fire the moment it is placed
    (limit_buy(), BracketSpec(None, ExitLevel(price=D("49000.0"))), "sl", "-2021"),
])
def test_check_spec_refuses_in_words(order: OrderRequest, spec: BracketSpec, field: str, words: str) -> None:
    found = check_spec(order, spec, BTC, mark_price=D("48000.0"), last_price=D("48000.0"))
    assert found is not None and found[0] == field and words in found[1], found


def test_check_spec_takes_a_sound_bracket() -> None:
    spec = BracketSpec(ExitLevel(price=D("52000.0")), ExitLevel(percent=D("1.5")), "MARK_PRICE")
    assert check_spec(limit_buy(), spec, BTC, mark_price=D("50010.0"), last_price=D("50010.0")) is None
    market = OrderRequest(symbol=SYM, side="SELL", type="MARKET", quantity=D(1))
    short = BracketSpec(ExitLevel(price=D("48000.0")), ExitLevel(price=D("51000.0")))
    assert check_spec(market, short, BTC, reference=D("50000.0")) is None
    assert check_spec(market, short, BTC, reference=D("51500.0")) == (
        "sl", "The stop-loss must be above the entry price 51500.")


def test_bracket_state_survives_the_journal_round_trip() -> None:
    spec = BracketSpec(ExitLevel(percent=D("2")), ExitLevel(price=D("49000.0")), "MARK_PRICE")
    b = Bracket("coinm-e", SYM, "BUY", "BOTH", spec, D(8), D(5), D("50000.05"), "PARTIALLY_FILLED", 7, "active")
    b.seen_position = True
    b.dropped.add(SL)
    b.exits[TP] = ExitOrder(TP, "coinm-tp-x", D(5), D("51000.0"), "live", 12, True)
    again = Bracket.from_json(b.to_json())
    assert again.to_json() == b.to_json()
    assert again.exits[TP].algo and again.spec.take_profit == ExitLevel(percent=D(2))


# ---------------------------------------------------------------------- against the simulator
class Rig(VenueRig):
    def __init__(self, sim: SimExchange, journal: Journal) -> None:
        assert sim.urls is not None
        self.notes: list[str] = []
        self.rest = RestClient(sim.urls.rest)
        hmac = HmacSigner(DEMO_API_KEY, sim.credentials.hmac_secret)
        super().__init__(sim, journal, resolve_backoff=0.05,
                         algo_rest=lambda p: self.rest.signed("POST", "algoOrder", p, hmac),
                         algo_cancel_rest=lambda p: self.rest.signed("DELETE", "algoOrder", p, hmac))
        self.brackets = self.manager()

    def manager(self) -> BracketManager:
        m = BracketManager(self.om, info=self.sim.symbols.get,
                           prices=lambda s: (self.sim.engine.mark_price(s), self.sim.engine.last_price(s)),
                           notify=self.notes.append)
        self.om.listeners[:] = [m.on_event]
        return m

    async def stop(self) -> None:
        await self.brackets.close()
        await super().stop()
        await self.rest.close()

    def book(self) -> Any:
        return self.sim.engine.syms[SYM].book

    async def entry(self, order: OrderRequest, spec: BracketSpec) -> str:
        out = await self.brackets.submit_entry(order, spec, self.sim.symbols[SYM],
                                               mark_price=self.sim.engine.mark_price(SYM),
                                               last_price=self.sim.engine.last_price(SYM))
        assert out.status == "accepted", out.message
        assert out.client_order_id is not None
        return out.client_order_id

    def exits(self, kind: str, *, open_only: bool = True) -> list[Any]:
        wanted = {TP: "TAKE_PROFIT_MARKET", SL: "STOP_MARKET"}[kind]
        return [o for o in self.venue.orders.values()
                if o.orig_type == wanted and (o.is_open or not open_only)]

    def position(self) -> int:
        pos = self.venue.positions.get(SYM)
        return pos.amt if pos else 0


@pytest.fixture
async def rig(stepped_sim: SimExchange, tmp_path: Path) -> AsyncIterator[Rig]:
    async with running(Rig(stepped_sim, Journal(tmp_path / "journal.sqlite3", venue="sim"))) as r:
        yield r


def sized(rig: Rig, qty: int) -> bool:
    tp, sl = rig.exits(TP), rig.exits(SL)
    return len(tp) == 1 and len(sl) == 1 and tp[0].qty == qty and sl[0].qty == qty


async def test_exits_follow_a_two_part_fill_then_tp_fires_and_sl_is_cancelled(rig: Rig) -> None:
    sim, book = rig.sim, rig.book()
    ask = book.best_ask()
    at_ask = book.available("BUY", ask, rig.venue)
    price = ask * TICK
    tp_price = (ask + 5) * TICK
    spec = BracketSpec(ExitLevel(price=tp_price), ExitLevel(percent=D(5)), "CONTRACT_PRICE")
    entry = await rig.entry(OrderRequest(symbol=SYM, side="BUY", type="LIMIT", time_in_force="GTC",
                                         quantity=D(at_ask + 3), price=price), spec)
    # first part: what sat at the ask; the exits are placed for it
    await eventually(lambda: sized(rig, at_ask), "exits for the first part")
    sl_price = exit_trigger(SL, "BUY", price, ExitLevel(percent=D(5)), TICK)
    assert rig.exits(TP)[0].stop_price == tp_price and rig.exits(SL)[0].stop_price == sl_price
    assert rig.exits(TP)[0].reduce_only and rig.exits(TP)[0].side == "SELL"
    first_tp = rig.exits(TP)[0].client_order_id
    # second part: a seller takes the rest of the bid (now the best one)
    assert book.best_bid() == ask
    sim.engine.execute_taker(SYM, "SELL", 3, None)
    await eventually(lambda: sized(rig, at_ask + 3), "exits resized to the whole fill")
    await rig.brackets.settle()
    assert rig.exits(TP)[0].client_order_id != first_tp
    b = rig.brackets.brackets[entry]
    assert b.state == "active" and b.filled == at_ask + 3 and b.avg_price == price
    # never two live exits of one kind: each replacement was sent after its predecessor's cancel came back
    rows = rig.journal.recent(500)
    for kind in (TP, SL):
        prefix = f"coinm-{kind.lower()}-"
        steps = [(e.kind, e.method, e.client_order_id) for e in rows if (e.client_order_id or "").startswith(prefix)
                 and ((e.kind == "request" and e.method in ("order.place", "order.cancel"))
                      or (e.kind == "outcome" and e.method == "order.cancel"))]
        assert [s[:2] for s in steps] == [("request", "order.place"), ("request", "order.cancel"),
                                          ("outcome", "order.cancel"), ("request", "order.place")], steps
        assert steps[0][2] == steps[1][2] != steps[3][2]
    # the price runs through the TP: it fires, the position is closed, the SL is cancelled
    qty = book.available("BUY", ask + 5) + 1
    sim.engine.execute_taker(SYM, "BUY", qty, None)
    assert sim.engine.last_price(SYM) > tp_price
    sim.accounts.on_tick(sim.engine.now_ms)
    assert rig.position() == 0
    await eventually(lambda: not rig.exits(SL) and b.state == "done", "SL cancelled, bracket done")
    assert b.fired == TP and b.note.startswith("TP fired")
    assert [o.status for o in rig.exits(SL, open_only=False)] == ["CANCELED", "CANCELED"]
    assert rig.brackets.marks() == []


async def test_closing_the_position_by_hand_cancels_the_exits(rig: Rig) -> None:
    spec = BracketSpec(ExitLevel(percent=D(3)), ExitLevel(percent=D(2)), "MARK_PRICE")
    entry = await rig.entry(OrderRequest(symbol=SYM, side="BUY", type="MARKET", quantity=D(4)), spec)
    await eventually(lambda: sized(rig, 4), "exits for the market entry")
    b = rig.brackets.brackets[entry]
    avg = rig.venue.orders[b.entry_order_id].avg_price
    assert b.avg_price == avg
    tp, sl = rig.exits(TP)[0], rig.exits(SL)[0]
    assert tp.stop_price == exit_trigger(TP, "BUY", avg, ExitLevel(percent=D(3)), TICK) > avg
    assert sl.stop_price == exit_trigger(SL, "BUY", avg, ExitLevel(percent=D(2)), TICK) < avg
    assert tp.working_type == sl.working_type == "MARK_PRICE"
    assert rig.brackets.position_text(SYM) == f"TP {tp.stop_price} SL {sl.stop_price}"
    close = await rig.om.submit(OrderRequest(symbol=SYM, side="SELL", type="MARKET", quantity=D(4),
                                             reduce_only=True), rig.sim.symbols[SYM])
    assert close.status == "accepted"
    await eventually(lambda: not rig.exits(TP) and not rig.exits(SL) and b.state == "done", "exits cancelled")
    assert b.note.startswith("position closed") and b.fired is None
    assert any("position closed" in n for n in rig.notes)


async def test_an_entry_cancelled_unfilled_never_places_exits(rig: Rig) -> None:
    bid = rig.book().best_bid() - 300
    entry = await rig.entry(limit_buy(str(bid * TICK)), BracketSpec(ExitLevel(percent=D(1)), ExitLevel(percent=D(1))))
    b = rig.brackets.brackets[entry]
    assert b.state == "waiting"
    out = await rig.om.cancel(SYM, client_id=entry)
    assert out.ok
    await eventually(lambda: b.state == "done", "bracket done")
    await rig.brackets.settle()
    assert rig.exits(TP, open_only=False) == [] and rig.exits(SL, open_only=False) == []
    assert "unfilled" in b.note


async def test_a_restart_keeps_managing_the_exits(rig: Rig, tmp_path: Path) -> None:
    spec = BracketSpec(ExitLevel(percent=D(3)), ExitLevel(percent=D(2)))
    entry = await rig.entry(OrderRequest(symbol=SYM, side="BUY", type="MARKET", quantity=D(2)), spec)
    await eventually(lambda: sized(rig, 2), "exits")
    await rig.brackets.settle()
    # the dashboard stops; a new one starts on the same journal (and a fresh account)
    await rig.brackets.close()
    rig.account.load_positions(await rig.api.positions())
    rig.brackets = rig.manager()
    restored = await rig.brackets.restore()
    assert [b.entry_client_id for b in restored] == [entry]
    b = restored[0]
    assert b.state == "active" and b.seen_position and {e.state for e in b.exits.values()} == {"live"}
    await rig.brackets.settle()
    assert sized(rig, 2)  # nothing placed again
    assert len(rig.exits(TP, open_only=False)) == 1 and len(rig.exits(SL, open_only=False)) == 1
    await rig.om.submit(OrderRequest(symbol=SYM, side="SELL", type="MARKET", quantity=D(2), reduce_only=True),
                        rig.sim.symbols[SYM])
    await eventually(lambda: not rig.exits(TP) and not rig.exits(SL) and b.state == "done", "exits cancelled")


async def test_an_exit_that_would_fire_at_once_is_refused_once_and_said(rig: Rig) -> None:
    # a market buy through two ask levels: the average is between them, the last price at the
    # higher one, so a TP one tick above the average has already been passed (-2021)
    book = rig.book()
    ask = book.best_ask()
    qty = book.available("BUY", ask, rig.venue) + 1
    spec = BracketSpec(ExitLevel(percent=D("0.00001")), ExitLevel(percent=D(2)))
    entry = await rig.entry(OrderRequest(symbol=SYM, side="BUY", type="MARKET", quantity=D(qty)), spec)
    await eventually(lambda: len(rig.exits(SL)) == 1, "SL placed")
    await rig.brackets.settle()
    b = rig.brackets.brackets[entry]
    assert rig.sim.engine.last_price(SYM) > b.avg_price
    assert rig.exits(TP, open_only=False) == [] and b.state == "active"
    assert b.note.startswith("TP not placed") and "-2021" not in b.note and "trigger" in b.note
    assert "not protected" in b.note and any(n.endswith(b.note) for n in rig.notes)
    refusals = [e for e in rig.journal.recent(200) if (e.client_order_id or "").startswith("coinm-tp-")]
    assert [(e.kind, e.payload["sent"]) for e in refusals] == [("outcome", False)]  # once, nothing sent


async def test_conditional_exits_go_through_the_algo_endpoint_when_the_venue_says_4120(rig: Rig) -> None:
    rig.sim.algo_orders = True  # as the live venue since 2025
    spec = BracketSpec(ExitLevel(percent=D(3)), ExitLevel(percent=D(2)))
    entry = await rig.entry(OrderRequest(symbol=SYM, side="BUY", type="MARKET", quantity=D(3)), spec)
    await eventually(lambda: sized(rig, 3), "exits placed as algo orders")
    b = rig.brackets.brackets[entry]
    await rig.brackets.settle()
    assert all(e.algo and e.state == "live" for e in b.exits.values())
    assert all(o.algo for o in rig.exits(TP) + rig.exits(SL))
    for ex in b.exits.values():
        methods = [(e.kind, e.method) for e in rig.journal.recent(50, client_order_id=ex.client_id)]
        assert methods[:3] == [("request", "order.place"), ("error", "order.place"), ("request", "algoOrder")]
    close = await rig.om.submit(OrderRequest(symbol=SYM, side="SELL", type="MARKET", quantity=D(3),
                                             reduce_only=True), rig.sim.symbols[SYM])
    assert close.status == "accepted"
    await eventually(lambda: not rig.exits(TP) and not rig.exits(SL) and b.state == "done",
                     "algo exits cancelled")
    for ex in b.exits.values():
        methods = [e.method for e in rig.journal.recent(50, client_order_id=ex.client_id) if e.kind == "request"]
        assert methods[-1] == "algoOrder.cancel"  # DELETE /dapi/v1/algoOrder: order.cancel cannot see them


async def test_a_position_closed_while_away_ends_its_bracket_at_restart(rig: Rig) -> None:
    spec = BracketSpec(ExitLevel(percent=D(3)), ExitLevel(percent=D(2)))
    await rig.entry(OrderRequest(symbol=SYM, side="BUY", type="MARKET", quantity=D(2)), spec)
    await eventually(lambda: sized(rig, 2), "exits")
    await rig.brackets.settle()
    await rig.brackets.close()
    rig.om.listeners.clear()  # the dashboard is not running: nobody watches the position
    await rig.om.submit(OrderRequest(symbol=SYM, side="SELL", type="MARKET", quantity=D(2), reduce_only=True),
                        rig.sim.symbols[SYM])
    assert rig.position() == 0 and sized(rig, 2)
    rig.brackets = rig.manager()
    [b] = await rig.brackets.restore()
    await eventually(lambda: not rig.exits(TP) and not rig.exits(SL) and b.state == "done", "exits cancelled")
    assert b.note.startswith("position closed")


async def test_hedge_mode_exits_name_the_leg_instead_of_reduce_only(rig: Rig) -> None:
    rig.sim.accounts.set_dual_side(rig.venue, True)
    spec = BracketSpec(ExitLevel(percent=D(3)), ExitLevel(percent=D(2)))
    entry = await rig.entry(OrderRequest(symbol=SYM, side="SELL", type="MARKET", quantity=D(2),
                                         position_side="SHORT"), spec)
    await eventually(lambda: sized(rig, 2), "exits on the SHORT leg")
    b = rig.brackets.brackets[entry]
    for o in rig.exits(TP) + rig.exits(SL):
        assert o.side == "BUY" and o.position_side == "SHORT"
    avg = b.avg_price
    assert rig.exits(TP)[0].stop_price == exit_trigger(TP, "SELL", avg, ExitLevel(percent=D(3)), TICK) < avg
    assert rig.exits(SL)[0].stop_price == exit_trigger(SL, "SELL", avg, ExitLevel(percent=D(2)), TICK) > avg
    # the leg closed by hand: the exits go
    await rig.om.submit(OrderRequest(symbol=SYM, side="BUY", type="MARKET", quantity=D(2), position_side="SHORT"),
                        rig.sim.symbols[SYM])
    await eventually(lambda: not rig.exits(TP) and not rig.exits(SL) and b.state == "done", "exits cancelled")


async def test_an_absolute_exit_the_fill_went_past_is_not_placed_and_said(rig: Rig) -> None:
    # a market buy's TP at a price the fill is already above (checked against the mark when sent)
    ask = rig.book().best_ask() * TICK
    qty = rig.book().available("BUY", rig.book().best_ask(), rig.venue) + 1  # past the best ask
    spec = BracketSpec(ExitLevel(price=ask), ExitLevel(percent=D(2)))
    entry = await rig.entry(OrderRequest(symbol=SYM, side="BUY", type="MARKET", quantity=D(qty)), spec)
    await eventually(lambda: len(rig.exits(SL)) == 1, "SL placed")
    await rig.brackets.settle()
    b = rig.brackets.brackets[entry]
    assert b.avg_price > ask and rig.exits(TP, open_only=False) == []
    assert b.note == f"TP {ask} is not above the fill price {fmt_plain(b.avg_price)}: not placed"
