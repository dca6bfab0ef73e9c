"""Shop-cleaning commands: the duplicate-listing report."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.table import Table

from lookalike.cli.common import Workspace_, app, console, err_console

if TYPE_CHECKING:
    from lookalike.recommend.similar import Recommender


@app.command()
def duplicates(
    workspace: Workspace_,
    threshold: Annotated[
        float, typer.Option(help="Cosine from which two photos count as the same (0-1).")
    ] = 0.97,
    as_json: Annotated[bool, typer.Option("--json", help="JSON instead of a table.")] = False,
    html: Annotated[
        Path | None, typer.Option(help="Also write an HTML page with an image grid per cluster.")
    ] = None,
) -> None:
    """List clusters of products that show the same or a near-identical photo under different
    ids (re-uploads, re-encoded or resized copies), largest first."""
    from lookalike.atomic import write_bytes_atomic
    from lookalike.recommend.duplicates import find_duplicates
    from lookalike.recommend.similar import Recommender

    if not 0 <= threshold <= 1:
        raise typer.BadParameter("--threshold must be between 0 and 1")
    with Recommender(workspace) as rec:
        clusters = [c.to_dict() for c in find_duplicates(rec, threshold)]
        if html is not None:
            write_bytes_atomic(html, _html(rec, clusters, threshold).encode("utf-8"))
            err_console.print(f"wrote {html}")
    if as_json:
        console.print_json(json.dumps(clusters, ensure_ascii=False))
        return
    table = Table(title=f"{len(clusters)} duplicate cluster(s) (cosine >= {threshold:g})")
    for col in ("size", "products", "why"):
        table.add_column(col, justify="right" if col == "size" else "left")
    for cluster in clusters:
        reasons = sorted({p["reason"] for p in cluster["pairs"]})
        table.add_row(str(cluster["size"]), " ".join(cluster["ids"]), ", ".join(reasons))
    console.print(table)


def _html(rec: Recommender, clusters: list[dict[str, Any]], threshold: float) -> str:
    """A self-contained page: each product's image inlined as a small data: URL."""
    import base64
    import html as html_lib

    from lookalike.serve.images import media_type, product_image_file

    parts = [
        "<!doctype html><meta charset='utf-8'><title>Duplicate listings</title>",
        "<style>.g{display:grid;grid-template-columns:repeat(auto-fill,minmax(140px,1fr));"
        "gap:10px}img{width:100%;aspect-ratio:1;object-fit:contain;background:#f8fafc}"
        "section{border:1px solid #ddd;border-radius:8px;padding:10px;margin:10px 0}</style>",
        f"<h1>{len(clusters)} duplicate cluster(s), cosine &ge; {threshold:g}</h1>",
    ]
    for cluster in clusters:
        parts.append(f"<section><h2>{cluster['size']} products</h2><div class='g'>")
        for pid in cluster["ids"]:
            src = ""
            path = product_image_file(rec.workspace, rec.product(pid))
            if path is not None:
                data = base64.b64encode(path.read_bytes()).decode("ascii")
                src = f"data:{media_type(path)};base64,{data}"
            name = html_lib.escape(str(pid))
            parts.append(f"<figure><img src='{src}' alt='{name}'>")
            parts.append(f"<figcaption>{name}</figcaption></figure>")
        parts.append("</div></section>")
    return "".join(parts)
