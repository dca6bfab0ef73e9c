"""Response and request bodies of the JSON API (they also document it at ``/docs``)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, Field

__all__ = [
    "ProductOut",
    "SimilarItem",
    "SimilarResponse",
    "ProductPage",
    "ImageUrlSearch",
    "EventIn",
    "EventAccepted",
    "ShopStats",
    "ReloadResult",
    "Health",
]


class ProductOut(BaseModel):
    """A product as the API shows it. ``image`` is served by this server."""

    id: str
    title: str
    url: str = Field(description="The product page in the shop ('' when the catalog has none).")
    image: str | None = Field(description="Absolute URL of the main image on this server.")
    price: float | None
    category: str
    in_stock: bool
    attributes: dict[str, Any] = Field(
        default_factory=dict, description="Every other catalog attribute (brand, colour, ...)."
    )


class SimilarItem(ProductOut):
    """One recommended product. ``score``: higher is closer (the cosine similarity, or minus
    the euclidean/manhattan distance)."""

    rank: int
    score: float
    components: dict[str, float] | None = Field(
        None, description="Weighted image/title/attrs terms of the score (explain=true, hybrid)."
    )
    rules: list[str] = Field(
        default_factory=list,
        description="The merchandising rules that touched this result: pin:N, boost:..., "
        "bury:..., sponsored:..., cap:sponsored, fallback:popular|newest.",
    )


class SimilarResponse(BaseModel):
    """The query product (absent for an image query) and its nearest products."""

    shop: str
    query: ProductOut | None
    metric: str
    source: Literal["precomputed", "index", "image", "variant"] = Field(
        description="precomputed: the stored top-K table (no filter, cosine, k within the "
        "stored K); index: a search over the vectors; image: a new photo embedded with the "
        "shop's model; variant: an A/B experiment's variant chose the list (see `variant`)."
    )
    results: list[SimilarItem]
    experiment: str = Field(
        "", description="The A/B experiment this list is attributed to ('' when none)."
    )
    variant: str = Field(
        "", description="The visitor's variant: send it back with impression and click events."
    )


class ProductPage(BaseModel):
    """One page of products matching ``query`` (id or title substring)."""

    shop: str
    query: str
    page: int
    page_size: int
    has_more: bool
    items: list[ProductOut]


class ImageUrlSearch(BaseModel):
    """JSON body of an image search by URL."""

    url: str = Field(min_length=1, max_length=4096)


class EventIn(BaseModel):
    """An impression (``shown``: product ids in position order) or a click (``target_id`` at
    1-based ``position``) from the widget. ``event_id`` makes retries idempotent."""

    type: Literal["impression", "click"]
    event_id: str = Field("", max_length=64)
    product_id: str = Field("", max_length=512, description="The product the widget was for.")
    target_id: str = Field("", max_length=512, description="The product clicked.")
    position: int | None = Field(None, ge=1, le=1000)
    shown: list[str] = Field(default_factory=list, max_length=200)
    visitor: str = Field("", max_length=128)
    experiment: str = Field("", max_length=128)
    variant: str = Field("", max_length=128)
    source: str = Field("widget", max_length=64)
    token: str = Field("", max_length=4096, description="The widget render's signed token.")


class EventAccepted(BaseModel):
    """``recorded`` is false when the event was a duplicate or came from a bot."""

    recorded: bool
    event_id: str


class ShopStats(BaseModel):
    """What a shop serves right now."""

    shop: str
    workspace: str
    model: str
    products: int
    vectors: int
    k: int
    built: str | None
    loaded_at: float
    reloads: int
    catalog: dict[str, object]


class ReloadResult(BaseModel):
    """The shop after a reload."""

    shop: str
    vectors: int
    loaded_at: float
    reloads: int


class Health(BaseModel):
    """Liveness and the shops served."""

    status: Literal["ok"]
    shops: list[str]
