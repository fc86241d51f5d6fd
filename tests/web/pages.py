"""What several web tests share: the pages of the shipped corpus to walk, and reading one."""

from __future__ import annotations

from bs4 import BeautifulSoup

# Every kind of page, on the shipped corpus (local mode sees them all).
PAGES = [
    "/",
    "/?q=streamer+hands+a+lit+sparkler+to+a+toddler",
    "/?q=sparkler",
    "/?type=ruling&outcome=suspend",
    "/documents",
    "/documents/dangerous-acts-and-challenges",
    "/documents/enforcement-ladder",
    "/documents/ESC-1010",
    "/documents/dangerous-acts-and-challenges/diff",
    "/documents/dangerous-acts-and-challenges/impact",
    "/rulings/similar?q=sparkler",
    "/consistency",
    "/review",
    "/collections",
    "/feedback",
    "/usage",
    "/trends",
    "/admin/users",
    "/admin/audit",
]


def soup(response) -> BeautifulSoup:
    """A page that answered 200, parsed."""
    assert response.status_code == 200, response.status_code
    return BeautifulSoup(response.get_data(as_text=True), "html.parser")
