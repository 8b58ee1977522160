"""An example Lambda function: validate the event with a pydantic model, answer with the validated
data or a 400 listing what was wrong."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field, ValidationError


class Item(BaseModel):
    sku: str = Field(min_length=1)
    quantity: int = Field(gt=0)


class Order(BaseModel):
    order_id: int
    customer: str
    items: list[Item] = Field(min_length=1)


def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    try:
        order = Order.model_validate(event)
    except ValidationError as exc:
        return {"statusCode": 400, "errors": exc.errors(include_url=False)}
    total = sum(item.quantity for item in order.items)
    return {"statusCode": 200, "order_id": order.order_id, "items": total}
