"""Admin API of a shop's catalog and rules (X-API-Key): catalog sync without a build, rules.

- ``PUT /v1/shops/{shop}/products/{id}``: a product as JSON (``image_url`` to fetch its photo),
  or multipart with a ``product`` JSON field and an ``image`` file. Embedded and visible at once.
- ``DELETE /v1/shops/{shop}/products/{id}``: gone from every list at once.
- ``POST /v1/shops/{shop}/sync``: many changes at once (webhook-friendly), one status each.
- ``GET``/``PUT /v1/shops/{shop}/rules``: the merchandising rules (``rules.json``).
"""

from __future__ import annotations

import json
from typing import Annotated, Any

from fastapi import APIRouter, Body, Depends, Path, Request
from pydantic import BaseModel, Field
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import UploadFile

from lookalike.catalog.models import Product
from lookalike.errors import ConfigError, ImageError, LookalikeError
from lookalike.recommend.overlay import product_from_json
from lookalike.recommend.rules import Rules
from lookalike.recommend.similar import Recommender
from lookalike.recommend.sync import Change, apply_changes
from lookalike.serve.deps import AdminDep, SettingsDep, StateDep
from lookalike.serve.paths import unescape_segment
from lookalike.serve.settings import ServeSettings
from lookalike.serve.uploads import fetch_image, read_limited

__all__ = ["router"]

router = APIRouter(prefix="/v1/shops/{shop}", tags=["catalog sync"])

MAX_BATCH = 500


def _product_id(
    product_id: Annotated[
        str, Path(max_length=1536, description="The product's id, percent-encoded ('/' = %2F).")
    ],
) -> str:
    return unescape_segment(product_id)  # see serve/paths.py


ProductId = Annotated[str, Depends(_product_id)]


class ProductIn(BaseModel):
    """A product to add or replace (``Product`` fields; ``image_url`` is fetched and embedded)."""

    title: str = Field("", max_length=1000)
    category: str = Field("", max_length=500)
    price: float | None = Field(None, ge=0)
    in_stock: bool = True
    url: str = Field("", max_length=4096)
    group_id: str = Field("", max_length=512)
    attrs: dict[str, Any] = Field(default_factory=dict, description="Any other attributes.")
    images: list[str] = Field(default_factory=list, max_length=20)
    image_url: str | None = Field(None, max_length=4096, description="The photo to embed.")


class BatchIn(BaseModel):
    """Many changes: ``upsert`` products (each with its ``id``) and ``delete`` ids."""

    upsert: list[dict[str, Any]] = Field(default_factory=list, max_length=MAX_BATCH)
    delete: list[str] = Field(default_factory=list, max_length=MAX_BATCH)


def _product(product_id: str, body: dict[str, Any]) -> tuple[Product, str | None]:
    data = ProductIn.model_validate(body).model_dump()
    image_url = data.pop("image_url")
    if image_url and image_url not in data["images"]:
        data["images"] = [image_url, *data["images"]]
    image = image_url or next((s for s in data["images"] if s.startswith("http")), None)
    return product_from_json({"id": product_id, **data}), image


def _fetched(product_id: str, body: dict[str, Any], settings: ServeSettings) -> Change:
    product, image_url = _product(product_id, body)
    data = fetch_image(image_url, settings) if image_url else None
    return Change(product=product, image=data)


async def _read_change(request: Request, product_id: str, settings: ServeSettings) -> Change:
    kind = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if kind != "multipart/form-data":
        body = await read_limited(request, 1_000_000)
        try:
            payload = json.loads(body or b"{}")
        except ValueError as exc:
            raise ConfigError(f"the body is not valid JSON: {exc}") from exc
        if not isinstance(payload, dict):
            raise ConfigError("the body must be a JSON object (the product's fields)")
        return await run_in_threadpool(_fetched, product_id, payload, settings)
    limit = settings.max_upload_bytes
    async with request.form(max_files=1, max_fields=4, max_part_size=limit) as form:
        raw = form.get("product")
        upload = form.get("image")
        try:
            fields = json.loads(raw) if isinstance(raw, str) else {}
        except ValueError as exc:
            raise ConfigError(f"the product field is not valid JSON: {exc}") from exc
        product, _ = _product(product_id, fields)
        data = await upload.read(limit + 1) if isinstance(upload, UploadFile) else None
    if data is not None and len(data) > limit:
        raise ImageError(f"the image is over the {limit}-byte limit", reason="too_large")
    return Change(product=product, image=data or None, uploaded=bool(data))


def _apply(rec: Recommender, changes: list[Change]) -> list[dict[str, Any]]:
    return apply_changes(rec, changes)


@router.put("/products/{product_id}")
async def upsert_product(
    shop: AdminDep,
    product_id: ProductId,
    state: StateDep,
    settings: SettingsDep,
    request: Request,
) -> dict[str, Any]:
    """Add or replace one product without a build: JSON fields (``image_url`` fetched), or
    multipart (``product`` JSON + ``image`` file). It is searchable and a neighbour at once."""
    change = await _read_change(request, product_id, settings)
    with state.registry.borrow(shop) as rec:
        status = (await run_in_threadpool(_apply, rec, [change]))[0]
    if status["status"] == "error":
        raise ImageError(status["error"], reason="not_an_image")
    return status


@router.delete("/products/{product_id}")
def delete_product(shop: AdminDep, product_id: ProductId, state: StateDep) -> dict[str, Any]:
    """Remove a product from every list at once (404 when unknown)."""
    with state.registry.borrow(shop) as rec:
        rec.product(product_id)  # NotFoundError (404) for an unknown id
        return apply_changes(rec, [Change(delete=product_id)])[0]


def _batch(rec: Recommender, body: BatchIn, settings: ServeSettings) -> list[dict[str, Any]]:
    changes: list[Change] = []
    failed: list[dict[str, Any]] = []
    for item in body.upsert:
        pid = str(item.get("id", "")).strip()
        try:
            if not pid:
                raise ConfigError("a product needs an id")
            changes.append(_fetched(pid, {k: v for k, v in item.items() if k != "id"}, settings))
        except (LookalikeError, ValueError) as exc:  # pydantic's ValidationError is one
            reason = str(exc).splitlines()[0]
            failed.append({"id": pid, "op": "upsert", "status": "error", "error": reason})
    changes += [Change(delete=pid) for pid in body.delete]
    return failed + apply_changes(rec, changes)


@router.post("/sync")
async def sync_batch(
    shop: AdminDep, state: StateDep, settings: SettingsDep, body: Annotated[BatchIn, Body()]
) -> dict[str, Any]:
    """Many upserts and deletes in one call (e.g. from a shop platform's webhook); a failing
    item is reported in ``items`` and does not stop the others."""
    with state.registry.borrow(shop) as rec:
        items = await run_in_threadpool(_batch, rec, body, settings)
    return {"shop": shop, "items": items, "ok": sum(i["status"] != "error" for i in items)}


@router.get("/rules", tags=["merchandising"])
def get_rules(shop: AdminDep, state: StateDep) -> dict[str, Any]:
    """The shop's merchandising rules."""
    with state.registry.borrow(shop) as rec:
        return rec.rules.model_dump(mode="json")


@router.put("/rules", tags=["merchandising"])
def put_rules(shop: AdminDep, state: StateDep, rules: Annotated[Rules, Body()]) -> dict[str, Any]:
    """Replace the shop's merchandising rules (pins, boosts/buries, exclude, min_score +
    fallback, max_sponsored_share); saved to ``rules.json`` and applied at once."""
    with state.registry.borrow(shop) as rec:
        rec.set_rules(rules)
        return rec.rules.model_dump(mode="json")
