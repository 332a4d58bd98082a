"""Errors shared by every part of the core: venue rejections, unknown outcomes, bad frames.

Also the table of every Binance error code from the COIN-M documentation's ERROR CODE
section: the venue's own message text (so the simulator answers word for word) and a short
sentence a trader understands, saying what happened and what to do.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

__all__ = [
    "BINANCE_ERRORS",
    "UNKNOWN_OUTCOME_CODES",
    "ErrorInfo",
    "MalformedFrame",
    "OutcomeUnknown",
    "RateLimitError",
    "VenueError",
    "binance_message",
    "blocked_text",
    "human_error",
]


@dataclass(frozen=True, slots=True)
class ErrorInfo:
    """One Binance error code."""

    code: int
    name: str
    """Binance's symbolic name, e.g. ``PRICE_NOT_INCREASED_BY_TICK_SIZE``."""
    human: str
    """What happened and what to do, for the status bar or the order form."""
    messages: tuple[str, ...]
    """The venue's message texts as the documentation gives them; the first is the plain one,
    the others are the forms with ``%s`` filled in by the venue."""

    @property
    def message(self) -> str:
        """The venue's plain message text."""
        return self.messages[0]


class MalformedFrame(ValueError):
    """A frame from the venue could not be understood; the caller logs it and carries on."""


class VenueError(Exception):
    """The venue answered a request with an error code (e.g. ``-4014``)."""

    def __init__(self, code: int, msg: str, status: int | None = None) -> None:
        super().__init__(f"{code}: {msg}")
        self.code = code
        """Binance's error code."""
        self.msg = msg
        """The venue's own message."""
        self.status = status
        """HTTP or WebSocket API status, when there was one."""

    @property
    def human(self) -> str:
        """A short sentence saying what happened and what to do (see :func:`human_error`)."""
        return human_error(self.code, self.msg)

    @property
    def outcome_unknown(self) -> bool:
        """Whether the request may or may not have taken effect (``-1006``, ``-1007``)."""
        return self.code in UNKNOWN_OUTCOME_CODES


class RateLimitError(VenueError):
    """The venue refused a request for the request rate: HTTP-like status 429 (slow down) or
    418 (this IP is banned). Nothing may be sent to the venue before :attr:`until_ms`.
    """

    def __init__(self, code: int, msg: str, status: int, until_ms: int) -> None:
        super().__init__(code, msg, status)
        self.until_ms = until_ms
        """Venue time (ms) when requests may be sent again (the reply's ``retryAfter``)."""

    @property
    def banned(self) -> bool:
        """An IP ban (418), not just a rate limit (429)."""
        return self.status == 418

    @property
    def human(self) -> str:
        return blocked_text(self.status or 429, self.until_ms)


def blocked_text(status: int, until_ms: int) -> str:
    """``IP banned by the venue until 12:34:56 UTC (HTTP 418): nothing is sent before then``."""
    when = time.strftime("%H:%M:%S", time.gmtime(until_ms / 1000))
    what = "IP banned by the venue" if status == 418 else "rate limited by the venue"
    return f"{what} until {when} UTC (HTTP {status}): nothing is sent before then"


class OutcomeUnknown(Exception):
    """A request left and no answer came in time: it may or may not have taken effect.

    Never retried blindly; callers query the venue (``order.status``) before reporting.
    """

    def __init__(self, method: str, request_id: str | int | None, detail: str = "") -> None:
        super().__init__(f"{method} (id {request_id}): outcome unknown{': ' + detail if detail else ''}")
        self.method = method
        self.request_id = request_id


UNKNOWN_OUTCOME_CODES = frozenset({-1006, -1007})
"""Codes after which the venue itself does not know whether the request took effect."""

# (code, name, human sentence, Binance's message texts), by code.
_TABLE: tuple[tuple[int, str, str, tuple[str, ...]], ...] = (
    (-1000, "UNKNOWN",
     "The venue hit an unknown error: try again, and check the order's status before resending an order.",
     ("An unknown error occured while processing the request.",)),
    (-1001, "DISCONNECTED",
     "The venue could not process the request right now: try again in a moment.",
     ("Internal error; unable to process your request. Please try again.",)),
    (-1002, "UNAUTHORIZED",
     "This API key is not allowed to do that: check its permissions on Binance.",
     ("You are not authorized to execute this request.",)),
    (-1003, "TOO_MANY_REQUESTS",
     "Too many requests: slow down and wait for the rate limit window to pass.",
     ("Too many requests; current limit is %s requests per minute. "
      "Please use the websocket for live updates to avoid polling the API.",
      "Way too many requests; IP banned until %s. Please use the websocket for live updates to avoid bans.")),
    (-1004, "DUPLICATE_IP",
     "This IP address is already on the API key's allow-list: nothing to do.",
     ("This IP is already on the white list",)),
    (-1005, "NO_SUCH_IP",
     "This IP address is not on the API key's allow-list: add it on Binance.",
     ("No such IP has been white listed",)),
    (-1006, "UNEXPECTED_RESP",
     "The venue gave an unexpected answer, so the outcome is unknown: check the order's status before retrying.",
     ("An unexpected response was received from the message bus. Execution status unknown.",)),
    (-1007, "TIMEOUT",
     "The venue timed out, so the outcome is unknown: check the order's status before retrying.",
     ("Timeout waiting for response from backend server. Send status unknown; execution status unknown.",)),
    (-1010, "ERROR_MSG_RECEIVED",
     "The venue reported an internal message error: try again.",
     ("ERROR_MSG_RECEIVED.",)),
    (-1011, "NON_WHITE_LIST",
     "This IP address may not use this endpoint: check the API key's IP allow-list.",
     ("This IP cannot access this route.",)),
    (-1013, "INVALID_MESSAGE",
     "The venue rejected the message as invalid: check the order's fields.",
     ("INVALID_MESSAGE.",)),
    (-1014, "UNKNOWN_ORDER_COMPOSITION",
     "That combination of order settings is not supported: change the order type or options.",
     ("Unsupported order combination.",)),
    (-1015, "TOO_MANY_ORDERS",
     "Too many new orders in a short time: wait a moment before placing more.",
     ("Too many new orders.",
      "Too many new orders; current limit is %s orders per %s.")),
    (-1016, "SERVICE_SHUTTING_DOWN",
     "This venue service is no longer available: switch venue or try later.",
     ("This service is no longer available.",)),
    (-1020, "UNSUPPORTED_OPERATION",
     "This operation is not supported by the venue.",
     ("This operation is not supported.",)),
    (-1021, "INVALID_TIMESTAMP",
     "The request's timestamp is outside the allowed window: the computer clock is off; "
     "coinm will resync with server time.",
     ("Timestamp for this request is outside of the recvWindow.",
      "Timestamp for this request was 1000ms ahead of the server's time.")),
    (-1022, "INVALID_SIGNATURE",
     "The signature was not accepted: check the API key and its secret or Ed25519 key.",
     ("Signature for this request is not valid.",)),
    (-1023, "START_TIME_GREATER_THAN_END_TIME",
     "The start time is after the end time: swap them.",
     ("Start time is greater than end time.",)),
    (-1100, "ILLEGAL_CHARS",
     "A parameter contains characters the venue does not accept: use plain decimal numbers and plain names.",
     ("Illegal characters found in a parameter.",
      "Illegal characters found in parameter '%s'; legal range is '%s'.")),
    (-1101, "TOO_MANY_PARAMETERS",
     "Too many parameters were sent: remove the duplicate or extra ones.",
     ("Too many parameters sent for this endpoint.",
      "Too many parameters; expected '%s' and received '%s'.",
      "Duplicate values for a parameter detected.")),
    (-1102, "MANDATORY_PARAM_EMPTY_OR_MALFORMED",
     "A required field is missing or malformed: fill it in.",
     ("A mandatory parameter was not sent, was empty/null, or malformed.",
      "Mandatory parameter '%s' was not sent, was empty/null, or malformed.",
      "Param '%s' or '%s' must be sent, but both were empty/null!")),
    (-1103, "UNKNOWN_PARAM",
     "An unknown parameter was sent: remove it.",
     ("An unknown parameter was sent.",)),
    (-1104, "UNREAD_PARAMETERS",
     "Some of the parameters were not used by the venue: remove the extra ones.",
     ("Not all sent parameters were read.",
      "Not all sent parameters were read; read '%s' parameter(s) but was sent '%s'.")),
    (-1105, "PARAM_EMPTY",
     "A parameter was empty: fill it in or leave it out.",
     ("A parameter was empty.",
      "Parameter '%s' was empty.")),
    (-1106, "PARAM_NOT_REQUIRED",
     "A field was sent that this order type does not take: clear it.",
     ("A parameter was sent when not required.",
      "Parameter '%s' sent when not required.")),
    (-1108, "BAD_ASSET",
     "Unknown asset: check the asset name.",
     ("Invalid asset.",)),
    (-1109, "BAD_ACCOUNT",
     "Invalid account: check that the API key belongs to a futures account.",
     ("Invalid account.",)),
    (-1110, "BAD_INSTRUMENT_TYPE",
     "Invalid symbol type.",
     ("Invalid symbolType.",)),
    (-1111, "BAD_PRECISION",
     "The number has more decimals than allowed: round it to the symbol's tick or step.",
     ("Precision is over the maximum defined for this asset.",)),
    (-1112, "NO_DEPTH",
     "There are no orders on the book for this symbol right now.",
     ("No orders on book for symbol.",)),
    (-1113, "WITHDRAW_NOT_NEGATIVE",
     "The withdrawal amount was not accepted (the venue expects it negative).",
     ("Withdrawal amount must be negative.",)),
    (-1114, "TIF_NOT_REQUIRED",
     "This order type takes no time in force: clear it.",
     ("TimeInForce parameter sent when not required.",)),
    (-1115, "INVALID_TIF",
     "Invalid time in force: use GTC, IOC, FOK or GTX.",
     ("Invalid timeInForce.",)),
    (-1116, "INVALID_ORDER_TYPE",
     "Invalid order type for this symbol: pick another type.",
     ("Invalid orderType.",)),
    (-1117, "INVALID_SIDE",
     "Invalid side: use BUY or SELL.",
     ("Invalid side.",)),
    (-1118, "EMPTY_NEW_CL_ORD_ID",
     "The client order id was empty: give one or leave it out.",
     ("New client order ID was empty.",)),
    (-1119, "EMPTY_ORG_CL_ORD_ID",
     "The original client order id was empty: give the id of the order to act on.",
     ("Original client order ID was empty.",)),
    (-1120, "BAD_INTERVAL",
     "Invalid interval: pick one of the listed chart intervals.",
     ("Invalid interval.",)),
    (-1121, "BAD_SYMBOL",
     "Unknown symbol: pick a symbol the venue lists.",
     ("Invalid symbol.",)),
    (-1125, "INVALID_LISTEN_KEY",
     "The user-data listen key has expired: coinm will create a new one and reconnect.",
     ("This listenKey does not exist. Please use `POST /fapi/v1/listenKey` to recreate `listenKey`",)),
    (-1127, "MORE_THAN_XX_HOURS",
     "The time range is too long: shorten it.",
     ("Lookup interval is too big.",
      "More than %s hours between startTime and endTime.")),
    (-1128, "OPTIONAL_PARAMS_BAD_COMBO",
     "This combination of optional fields is not allowed: send one or the other.",
     ("Combination of optional parameters invalid.",)),
    (-1130, "INVALID_PARAMETER",
     "A field has a value the venue does not accept: correct it.",
     ("Invalid data sent for a parameter.",
      "Data sent for parameter '%s' is not valid.")),
    (-1136, "INVALID_NEW_ORDER_RESP_TYPE",
     "Invalid response type: use ACK or RESULT.",
     ("Invalid newOrderRespType.",)),
    (-2010, "NEW_ORDER_REJECTED",
     "The venue rejected the new order: check its fields and your account.",
     ("NEW_ORDER_REJECTED",)),
    (-2011, "CANCEL_REJECTED",
     "The cancel was rejected: the order may already be filled or cancelled.",
     ("CANCEL_REJECTED",)),
    (-2013, "NO_SUCH_ORDER",
     "No such order: it may already be filled, cancelled or never placed.",
     ("Order does not exist.",)),
    (-2014, "BAD_API_KEY_FMT",
     "The API key is malformed: check that it was copied in full.",
     ("API-key format invalid.",)),
    (-2015, "REJECTED_MBX_KEY",
     "The API key, this IP address or its permissions were rejected: check the key on Binance.",
     ("Invalid API-key, IP, or permissions for action.",)),
    (-2016, "NO_TRADING_WINDOW",
     "No trading window for this symbol right now.",
     ("No trading window could be found for the symbol. Try ticker/24hrs instead.",)),
    (-2018, "BALANCE_NOT_SUFFICIENT",
     "Not enough balance for this: reduce the size or add funds.",
     ("Balance is insufficient.",)),
    (-2019, "MARGIN_NOT_SUFFICIEN",
     "Not enough margin for this order: reduce the size or add margin.",
     ("Margin is insufficient.",)),
    (-2020, "UNABLE_TO_FILL",
     "The order could not be filled (FOK or IOC found no matching liquidity): change price or size.",
     ("Unable to fill.",)),
    (-2021, "ORDER_WOULD_IMMEDIATELY_TRIGGER",
     "The stop price has already been reached, so the order would trigger at once: move the stop price.",
     ("Order would immediately trigger.",)),
    (-2022, "REDUCE_ONLY_REJECT",
     "The reduce-only order was rejected: it would not reduce your position.",
     ("ReduceOnly Order is rejected.",)),
    (-2023, "USER_IN_LIQUIDATION",
     "Your account is being liquidated: no new orders until it completes.",
     ("User in liquidation mode now.",)),
    (-2024, "POSITION_NOT_SUFFICIENT",
     "The position is smaller than this order: reduce the size.",
     ("Position is not sufficient.",)),
    (-2025, "MAX_OPEN_ORDER_EXCEEDED",
     "Too many open orders on this symbol: cancel some first.",
     ("Reach max open order limit.",)),
    (-2026, "REDUCE_ONLY_ORDER_TYPE_NOT_SUPPORTED",
     "This order type cannot be reduce-only: clear reduce-only or pick another type.",
     ("This OrderType is not supported when reduceOnly.",)),
    (-2027, "MAX_LEVERAGE_RATIO",
     "This would exceed the largest position allowed at your leverage: reduce the size or the leverage.",
     ("Exceeded the maximum allowable position at current leverage.",)),
    (-2028, "MIN_LEVERAGE_RATIO",
     "Leverage is too low for your margin balance: add margin or raise the leverage.",
     ("Leverage is smaller than permitted: insufficient margin balance.",)),
    (-4000, "INVALID_ORDER_STATUS",
     "The order is not in a state that allows this.",
     ("Invalid order status.",)),
    (-4001, "PRICE_LESS_THAN_ZERO",
     "The price is below zero: enter a positive price.",
     ("Price less than 0.",)),
    (-4002, "PRICE_GREATER_THAN_MAX_PRICE",
     "The price is above the symbol's maximum price: lower it.",
     ("Price greater than max price.",)),
    (-4003, "QTY_LESS_THAN_ZERO",
     "The quantity is below zero: enter a positive quantity.",
     ("Quantity less than zero.",)),
    (-4004, "QTY_LESS_THAN_MIN_QTY",
     "The quantity is below the minimum: raise it.",
     ("Quantity less than min quantity.",)),
    (-4005, "QTY_GREATER_THAN_MAX_QTY",
     "The quantity is above the maximum: lower it or split the order.",
     ("Quantity greater than max quantity.",)),
    (-4006, "STOP_PRICE_LESS_THAN_ZERO",
     "The stop price is below zero: enter a positive stop price.",
     ("Stop price less than zero.",)),
    (-4007, "STOP_PRICE_GREATER_THAN_MAX_PRICE",
     "The stop price is above the symbol's maximum price: lower it.",
     ("Stop price greater than max price.",)),
    (-4008, "TICK_SIZE_LESS_THAN_ZERO",
     "The symbol's tick size is invalid (venue configuration).",
     ("Tick size less than zero.",)),
    (-4009, "MAX_PRICE_LESS_THAN_MIN_PRICE",
     "The symbol's maximum price is below its minimum (venue configuration).",
     ("Max price less than min price.",)),
    (-4010, "MAX_QTY_LESS_THAN_MIN_QTY",
     "The symbol's maximum quantity is below its minimum (venue configuration).",
     ("Max qty less than min qty.",)),
    (-4011, "STEP_SIZE_LESS_THAN_ZERO",
     "The symbol's step size is invalid (venue configuration).",
     ("Step size less than zero.",)),
    (-4012, "MAX_NUM_ORDERS_LESS_THAN_ZERO",
     "The symbol's order limit is invalid (venue configuration).",
     ("Max mum orders less than zero.",)),
    (-4013, "PRICE_LESS_THAN_MIN_PRICE",
     "The price is below the symbol's minimum price: raise it.",
     ("Price less than min price.",)),
    (-4014, "PRICE_NOT_INCREASED_BY_TICK_SIZE",
     "The price is not on the tick grid: round it to the symbol's tick size.",
     ("Price not increased by tick size.",)),
    (-4015, "INVALID_CL_ORD_ID_LEN",
     "The client order id is invalid: use at most 36 letters, digits or . : / _ -.",
     ("Client order id is not valid.",
      "Client order id length should not be more than 36 chars")),
    (-4016, "PRICE_HIGHTER_THAN_MULTIPLIER_UP",
     "The buy price is too far above the mark price: lower it.",
     ("Price is higher than mark price multiplier cap.",)),
    (-4017, "MULTIPLIER_UP_LESS_THAN_ZERO",
     "The symbol's upper price multiplier is invalid (venue configuration).",
     ("Multiplier up less than zero.",)),
    (-4018, "MULTIPLIER_DOWN_LESS_THAN_ZERO",
     "The symbol's lower price multiplier is invalid (venue configuration).",
     ("Multiplier down less than zero.",)),
    (-4019, "COMPOSITE_SCALE_OVERFLOW",
     "The numbers are too large to process: use fewer digits.",
     ("Composite scale too large.",)),
    (-4020, "TARGET_STRATEGY_INVALID",
     "This order strategy is not valid for the order type and reduce-only setting.",
     ("Target strategy invalid for orderType '%s',reduceOnly '%b'.",)),
    (-4021, "INVALID_DEPTH_LIMIT",
     "Invalid depth limit: use 5, 10, 20, 50, 100, 500 or 1000.",
     ("Invalid depth limit.",
      "'%s' is not valid depth limit.")),
    (-4022, "WRONG_MARKET_STATUS",
     "The market is not in a state that allows this (not trading).",
     ("market status sent is not valid.",)),
    (-4023, "QTY_NOT_INCREASED_BY_STEP_SIZE",
     "The quantity is not a multiple of the step size: round it.",
     ("Qty not increased by step size.",)),
    (-4024, "PRICE_LOWER_THAN_MULTIPLIER_DOWN",
     "The sell price is too far below the mark price: raise it.",
     ("Price is lower than mark price multiplier floor.",)),
    (-4025, "MULTIPLIER_DECIMAL_LESS_THAN_ZERO",
     "The symbol's multiplier decimals are invalid (venue configuration).",
     ("Multiplier decimal less than zero.",)),
    (-4026, "COMMISSION_INVALID",
     "Invalid commission setting.",
     ("Commission invalid.",
      "`%s` less than zero.",
      "`%s` absolute value greater than `%s`")),
    (-4027, "INVALID_ACCOUNT_TYPE",
     "The account type is not valid for this request: check the API key's account.",
     ("Invalid account type.",)),
    (-4028, "INVALID_LEVERAGE",
     "Invalid leverage: pick a leverage the symbol allows.",
     ("Invalid leverage",
      "Leverage `%s` is not valid",
      "Leverage `%s` already exist with `%s`")),
    (-4029, "INVALID_TICK_SIZE_PRECISION",
     "The tick size precision is invalid (venue configuration).",
     ("Tick size precision is invalid.",)),
    (-4030, "INVALID_STEP_SIZE_PRECISION",
     "The step size precision is invalid (venue configuration).",
     ("Step size precision is invalid.",)),
    (-4031, "INVALID_WORKING_TYPE",
     "Invalid working type: use MARK_PRICE or CONTRACT_PRICE.",
     ("Invalid parameter working type",
      "Invalid parameter working type: `%s`")),
    (-4032, "EXCEED_MAX_CANCEL_ORDER_SIZE",
     "Too many orders to cancel at once: cancel fewer.",
     ("Exceed maximum cancel order size.",
      "Invalid parameter working type: `%s`")),
    (-4033, "INSURANCE_ACCOUNT_NOT_FOUND",
     "The venue could not find its insurance account: nothing to do on your side.",
     ("Insurance account not found.",)),
    (-4044, "INVALID_BALANCE_TYPE",
     "Invalid balance type.",
     ("Balance Type is invalid.",)),
    (-4045, "MAX_STOP_ORDER_EXCEEDED",
     "Too many stop orders on this symbol: cancel some first.",
     ("Reach max stop order limit.",)),
    (-4046, "NO_NEED_TO_CHANGE_MARGIN_TYPE",
     "The margin type is already set that way: nothing to change.",
     ("No need to change margin type.",)),
    (-4047, "THERE_EXISTS_OPEN_ORDERS",
     "The margin type cannot change while orders are open: cancel them first.",
     ("Margin type cannot be changed if there exists open orders.",)),
    (-4048, "THERE_EXISTS_QUANTITY",
     "The margin type cannot change while a position is open: close it first.",
     ("Margin type cannot be changed if there exists position.",)),
    (-4049, "ADD_ISOLATED_MARGIN_REJECT",
     "Margin can only be added to an isolated position.",
     ("Add margin only support for isolated position.",)),
    (-4050, "CROSS_BALANCE_INSUFFICIENT",
     "Not enough cross-margin balance: add funds or reduce the size.",
     ("Cross balance insufficient.",)),
    (-4051, "ISOLATED_BALANCE_INSUFFICIENT",
     "Not enough isolated margin: add margin or reduce the size.",
     ("Isolated balance insufficient.",)),
    (-4052, "NO_NEED_TO_CHANGE_AUTO_ADD_MARGIN",
     "Auto-add margin is already set that way: nothing to change.",
     ("No need to change auto add margin.",)),
    (-4053, "AUTO_ADD_CROSSED_MARGIN_REJECT",
     "Auto-add margin works only for isolated positions.",
     ("Auto add margin only support for isolated position.",)),
    (-4054, "ADD_ISOLATED_MARGIN_NO_POSITION_REJECT",
     "Cannot add margin: there is no position.",
     ("Cannot add position margin: position is 0.",)),
    (-4055, "AMOUNT_MUST_BE_POSITIVE",
     "The amount must be positive.",
     ("Amount must be positive.",)),
    (-4056, "INVALID_API_KEY_TYPE",
     "Invalid API key type.",
     ("Invalid api key type.",)),
    (-4057, "INVALID_RSA_PUBLIC_KEY",
     "Invalid API public key: check the key registered on Binance.",
     ("Invalid api public key",)),
    (-4058, "MAX_PRICE_TOO_LARGE",
     "The maximum price is too large (venue configuration).",
     ("maxPrice and priceDecimal too large,please check.",)),
    (-4059, "NO_NEED_TO_CHANGE_POSITION_SIDE",
     "The position mode is already set that way: nothing to change.",
     ("No need to change position side.",)),
    (-4060, "INVALID_POSITION_SIDE",
     "Invalid position side: use BOTH in one-way mode, LONG or SHORT in hedge mode.",
     ("Invalid position side.",)),
    (-4061, "POSITION_SIDE_NOT_MATCH",
     "The position side does not match your position mode: use BOTH in one-way mode, LONG/SHORT in hedge mode.",
     ("Order's position side does not match user's setting.",)),
    (-4062, "REDUCE_ONLY_CONFLICT",
     "Reduce-only is not allowed here: clear it.",
     ("Invalid or improper reduceOnly value.",)),
    (-4067, "POSITION_SIDE_CHANGE_EXISTS_OPEN_ORDERS",
     "The position mode cannot change while orders are open: cancel them first.",
     ("Position side cannot be changed if there exists open orders.",)),
    (-4068, "POSITION_SIDE_CHANGE_EXISTS_QUANTITY",
     "The position mode cannot change while a position is open: close it first.",
     ("Position side cannot be changed if there exists position.",)),
    (-4082, "INVALID_BATCH_PLACE_ORDER_SIZE",
     "Invalid number of orders in the batch.",
     ("Invalid number of batch place orders.",
      "Invalid number of batch place orders: %s")),
    (-4083, "PLACE_BATCH_ORDERS_FAIL",
     "The batch of orders could not be placed.",
     ("Fail to place batch orders.",)),
    (-4084, "UPCOMING_METHOD",
     "This method is not available yet.",
     ("Method is not allowed currently. Upcoming soon.",)),
    (-4086, "INVALID_PRICE_SPREAD_THRESHOLD",
     "The price spread threshold is not valid: choose a different value.",
     ("Invalid price spread threshold.",)),
    (-4087, "INVALID_PAIR",
     "Unknown pair: pick a pair the venue lists.",
     ("Invalid pair.",)),
    (-4088, "INVALID_TIME_INTERVAL",
     "Invalid time range: shorten it.",
     ("Invalid time interval.",
      "Maximum time interval is %s days.")),
    (-4089, "REDUCE_ONLY_ORDER_PERMISSION",
     "This account may only place reduce-only orders right now.",
     ("User can only place reduce only order.",)),
    (-4090, "NO_PLACE_ORDER_PERMISSION",
     "This account cannot place orders right now.",
     ("User can not place order currently.",)),
    (-4104, "INVALID_CONTRACT_TYPE",
     "Unknown contract type: use PERPETUAL, CURRENT_QUARTER or NEXT_QUARTER.",
     ("Invalid contract type.",)),
    (-4110, "INVALID_CLIENT_TRAN_ID_LEN",
     "The client transfer id is invalid (at most 64 characters).",
     ("clientTranId is not valid.",
      "Client tran id length should be less than 64 chars.")),
    (-4111, "DUPLICATED_CLIENT_TRAN_ID",
     "The client transfer id was already used: use a new one.",
     ("clientTranId is duplicated.",
      "Client tran id should be unique within 7 days.")),
    (-4112, "REDUCE_ONLY_MARGIN_CHECK_FAILED",
     "The reduce-only order failed: check your position and open orders.",
     ("ReduceOnly Order Failed. Please check your existing position and open orders.",)),
    (-4113, "MARKET_ORDER_REJECT",
     "The best opposite price is outside the allowed band from the mark price: use a limit order.",
     ("The counterparty's best price does not meet the PERCENT_PRICE filter limit.",)),
    # Not in the spec's ERROR CODE section: Binance's answer to a newClientOrderId already in
    # use by an open order (the simulator gives it).
    (-4116, "DUPLICATED_CLIENT_ORDER_ID",
     "That client order id is already used by an open order: the order may already be placed; check before resending.",
     ("ClientOrderId is duplicated.",)),
    # Not in the spec's ERROR CODE section: notes.md says the live venue has answered
    # conditional order types on order.place with it since 2025.
    (-4120, "STOP_ORDER_SWITCH_ALGO",
     "The venue takes this conditional order type only through its algo-order API.",
     ("Order type not supported for this endpoint. Please use the Algo Order API endpoints instead.",)),
    (-4135, "INVALID_ACTIVATION_PRICE",
     "Invalid activation price: put it on the tick grid, on the right side of the market.",
     ("Invalid activation price.",)),
    (-4137, "QUANTITY_EXISTS_WITH_CLOSE_POSITION",
     "Closing the whole position takes no quantity: clear the quantity.",
     ("Quantity must be zero with closePosition equals true.",)),
    (-4138, "REDUCE_ONLY_MUST_BE_TRUE",
     "Reduce-only must be on when closing the whole position.",
     ("Reduce only must be true with closePosition equals true.",)),
    (-4139, "ORDER_TYPE_CANNOT_BE_MKT",
     "This order cannot be a market order because it could not be cancelled.",
     ("Order type can not be market if it's unable to cancel.",)),
    (-4142, "STRATEGY_INVALID_TRIGGER_PRICE",
     "The take-profit or stop price would trigger at once: move it.",
     ("REJECT: take profit or stop order will be triggered immediately.",)),
    (-4150, "ISOLATED_LEVERAGE_REJECT_WITH_POSITION",
     "Leverage cannot be reduced in isolated mode while a position is open.",
     ("Leverage reduction is not supported in Isolated Margin Mode with open positions.",)),
    (-4151, "PRICE_HIGHTER_THAN_STOP_MULTIPLIER_UP",
     "The limit price is too far above the stop price: lower it.",
     ("Price is higher than stop price multiplier cap.",
      "Limit price can't be higher than %s.")),
    (-4152, "PRICE_LOWER_THAN_STOP_MULTIPLIER_DOWN",
     "The limit price is too far below the stop price: raise it.",
     ("Price is lower than stop price multiplier floor.",
      "Limit price can't be lower than %s.")),
    (-4154, "STOP_PRICE_HIGHER_THAN_PRICE_MULTIPLIER_LIMIT",
     "The stop price is too far above the current price: lower it.",
     ("Stop price is higher than price multiplier cap.",
      "Stop price can't be higher than %s")),
    (-4155, "STOP_PRICE_LOWER_THAN_PRICE_MULTIPLIER_LIMIT",
     "The stop price is too far below the current price: raise it.",
     ("PStop price is lower than price multiplier floor.",
      "Stop price can't be lower than %s")),
    (-4178, "MIN_NOTIONAL",
     "The order is too small: raise the quantity (or make it reduce-only).",
     ("Order's notional must be no smaller than one (unless you choose reduce only)",
      "Order's notional must be no smaller than %s (unless you choose reduce only)")),
    (-4188, "ME_INVALID_TIMESTAMP",
     "The request reached the matching engine too late: check the clock and retry.",
     ("Timestamp for this request is outside of the ME recvWindow.",)),
    (-4192, "COOLING_OFF_PERIOD",
     "Trading is paused for this account (cooling-off period).",
     ("Trade forbidden due to Cooling-off Period.",)),
    (-4194, "ADJUST_LEVERAGE_KYC_FAILED",
     "Leverage above 20x needs intermediate identity verification.",
     ("Intermediate Personal Verification is required for adjusting leverage over 20x.",)),
    (-4195, "ADJUST_LEVERAGE_ONE_MONTH_FAILED",
     "Leverage above 20x becomes available one month after registration.",
     ("More than 20x leverage is available one month after account registration.",)),
    (-4196, "LIMIT_ORDER_ONLY",
     "Only limit orders are allowed here.",
     ("Only limit order is supported.",)),
    (-4197, "SAME_ORDER",
     "The modification changes nothing: the order already has these values.",
     ("No need to modify the order.",)),
    (-4198, "EXCEED_MAX_MODIFY_ORDER_LIMIT",
     "This order has been modified too many times: cancel and place a new one.",
     ("Exceed maximum modify order limit.",)),
    (-4199, "MOVE_ORDER_NOT_ALLOWED_SYMBOL_REASON",
     "The symbol is not trading, so orders cannot be modified.",
     ("Symbol is not in trading status. Order amendment is not permitted.",)),
    (-4200, "ADJUST_LEVERAGE_X_DAYS_FAILED",
     "Leverage above 20x becomes available some days after futures registration.",
     ("More than 20x leverage is available 30 days after Futures account registration.",
      "More than 20x leverage is available %s days after Futures account registration.")),
    (-4201, "ADJUST_LEVERAGE_KYC_LIMIT",
     "Leverage is limited in your country or region.",
     ("Users in this country has limited adjust leverage.",
      "Users in your location/country can only access a maximum leverage of %s")),
    (-4202, "ADJUST_LEVERAGE_ACCOUNT_SYMBOL_FAILED",
     "Leverage cannot exceed 20x while the position limit adjustment is active.",
     ("Current symbol leverage cannot exceed 20 when using position limit adjustment service.",)),
)

BINANCE_ERRORS: dict[int, ErrorInfo] = {
    code: ErrorInfo(code, name, human, messages) for code, name, human, messages in _TABLE
}
"""Every error code of the ERROR CODE section, by code."""


def binance_message(code: int) -> str:
    """The venue's plain message text for ``code``.

    An unknown code gets the text of ``-1000 UNKNOWN``, which is what the venue says when it
    has nothing more specific.
    """
    info = BINANCE_ERRORS.get(code)
    return info.message if info is not None else BINANCE_ERRORS[-1000].message


def human_error(code: int, msg: str = "") -> str:
    """A short sentence for a trader: what happened and what to do.

    When the venue's ``msg`` says more than the plain text (which parameter, which limit), it
    is kept in brackets. Unknown codes fall back to the venue's own words.
    """
    msg = (msg or "").strip()
    info = BINANCE_ERRORS.get(code)
    if info is None:
        if msg:
            return f"The venue refused the request (error {code}): {msg}"
        return f"The venue refused the request with error {code}."
    if msg and msg not in info.messages:
        return f"{info.human} ({msg})"
    return info.human
