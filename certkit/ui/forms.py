"""Form parts used by several dialogs: permissions rows, expiration, passphrase pair, choices."""

from __future__ import annotations

from collections.abc import Mapping

import ipywidgets as widgets

from certkit.errors import InvalidInput
from certkit.model import Access, Clearance, KeyType, Pkcs12Profile, Secret
from certkit.ui.common import Banner, Parts, css, on_change, on_click, set_visible

KEY_TYPE_LABELS = {
    KeyType.EC_P256: "ECDSA P-256 (default)",
    KeyType.EC_P384: "ECDSA P-384",
    KeyType.RSA_2048: "RSA 2048",
    KeyType.RSA_3072: "RSA 3072",
    KeyType.RSA_4096: "RSA 4096 (slow to generate)",
    KeyType.ED25519: "Ed25519",
}
PKCS12_LABELS = {
    Pkcs12Profile.MODERN: "Modern (AES-256)",
    Pkcs12Profile.LEGACY: "Legacy (3DES, for old Windows and Java)",
}
EXPIRY_PRESETS = (("1 year", "1y"), ("2 years", "2y"), ("5 years", "5y"), ("Custom", "custom"))


def clearance_options(*, include_node: bool = False) -> list[tuple[str, str]]:
    """Dropdown options (label, value) for a client certificate's clearance."""
    choices = [Clearance.VALID_USER, Clearance.OPERATOR, Clearance.CLUSTER_ADMIN]
    if include_node:
        choices.append(Clearance.CLUSTER_NODE)
    return [(c.label, c.value) for c in choices]


def dropdown(options: list[tuple[str, str]], value: str, *classes: str) -> widgets.Dropdown:
    widget = widgets.Dropdown(options=options, value=value)
    css(widget, "ck-input", *classes)
    return widget


def text(placeholder: str, *classes: str) -> widgets.Text:
    widget = widgets.Text(placeholder=placeholder)
    css(widget, "ck-input", *classes)
    return widget


def clearance_dropdown(prefix: str) -> widgets.Dropdown:
    """A client certificate's clearance, User first (``ck-<prefix>-clearance``)."""
    return dropdown(clearance_options(), Clearance.VALID_USER.value, f"ck-{prefix}-clearance")


def two_factor_checkbox(prefix: str) -> widgets.Checkbox:
    """Require two-factor authentication, off (``ck-<prefix>-two-factor``)."""
    widget = widgets.Checkbox(
        value=False, description="Require two-factor authentication", indent=False
    )
    css(widget, f"ck-{prefix}-two-factor")
    return widget


def key_type_dropdown(prefix: str) -> widgets.Dropdown:
    options = [(label, key.value) for key, label in KEY_TYPE_LABELS.items()]
    return dropdown(options, KeyType.EC_P256.value, f"ck-{prefix}-key")


def pkcs12_dropdown(prefix: str) -> widgets.Dropdown:
    options = [(label, profile.value) for profile, label in PKCS12_LABELS.items()]
    return dropdown(options, Pkcs12Profile.MODERN.value, f"ck-{prefix}-pkcs12")


class _PermissionRow:
    def __init__(self, parts: Parts, prefix: str, database: str, access: str) -> None:
        self.database = text("Database name", f"ck-{prefix}-perm-db")
        self.database.value = database
        options = [(a.label, a.value) for a in Access]
        self.access = dropdown(options, access, f"ck-{prefix}-perm-access")
        self.remove = parts.button("", f"ck-{prefix}-perm-remove", icon="trash", tooltip="Remove")
        self.widget = parts.hbox(
            [self.database, self.access, self.remove], "ck-perm-row", f"ck-{prefix}-perm-row"
        )
        self.index_class = ""


class PermissionsEditor:
    """Rows of database + access level, added and removed (``ck-<prefix>-perm-*``)."""

    def __init__(self, parts: Parts, prefix: str, banner: Banner) -> None:
        self._parts, self._prefix, self._banner = parts, prefix, banner
        self._rows: list[_PermissionRow] = []
        self.rows_box = parts.vbox([], "ck-perm-rows", f"ck-{prefix}-perms")
        self.add = parts.button("Add database", f"ck-{prefix}-perm-add", icon="plus")
        on_click(self.add, banner, self.add_row)
        hint = parts.html(
            '<span class="ck-hint">Users reach only the databases listed here; '
            "operators and admins reach all.</span>"
        )
        self.widget = parts.vbox([self.rows_box, self.add, hint], "ck-perms")

    @property
    def rows(self) -> list[_PermissionRow]:
        return list(self._rows)

    def add_row(self, database: str = "", access: str = Access.READ_WRITE.value) -> None:
        row = _PermissionRow(self._parts, self._prefix, database, access)
        on_click(row.remove, self._banner, lambda: self._remove(row))
        self._rows.append(row)
        self._redraw()

    def _remove(self, row: _PermissionRow) -> None:
        self._rows.remove(row)
        row.widget.close()
        self._redraw()

    def _redraw(self) -> None:
        for index, row in enumerate(self._rows):
            wanted = f"ck-{self._prefix}-perm-row-{index}"
            if row.index_class != wanted:
                if row.index_class:
                    row.widget.remove_class(row.index_class)
                row.widget.add_class(wanted)
                row.index_class = wanted
        self.rows_box.children = tuple(r.widget for r in self._rows)

    def set(self, permissions: Mapping[str, Access]) -> None:
        for row in self._rows:
            row.widget.close()
        self._rows = []
        for database, access in permissions.items():
            self.add_row(database, access.value)
        self._redraw()

    def value(self) -> dict[str, str]:
        """The permissions entered (blank rows ignored); a database listed twice is an error."""
        result: dict[str, str] = {}
        seen: set[str] = set()
        for row in self._rows:
            name = row.database.value.strip()
            if not name:
                continue
            if name.lower() in seen:
                raise InvalidInput(
                    f"Database {name!r} is listed twice; database names match case-insensitively."
                )
            seen.add(name.lower())
            result[name] = str(row.access.value)
        return result


class ExpiryPicker:
    """Expiration: 1, 2 or 5 years (default), or a custom number of days or months."""

    def __init__(self, parts: Parts, prefix: str, banner: Banner) -> None:
        self.preset = dropdown(list(EXPIRY_PRESETS), "5y", f"ck-{prefix}-expires")
        self.count = widgets.BoundedIntText(value=90, min=1, max=99999)
        css(self.count, "ck-input", f"ck-{prefix}-expires-count")
        self.unit = dropdown([("days", "d"), ("months", "m")], "d", f"ck-{prefix}-expires-unit")
        self.custom = parts.hbox([self.count, self.unit], "ck-inline", "ck-hidden")
        on_change(self.preset, banner, self._toggle)
        self.widget = parts.vbox([self.preset, self.custom], "ck-expiry")

    def _toggle(self) -> None:
        set_visible(self.custom, self.preset.value == "custom")

    def value(self) -> str:
        """A period for the core: ``5y``, ``2y``, ``1y``, or e.g. ``90d`` / ``18m``."""
        if self.preset.value != "custom":
            return str(self.preset.value)
        return f"{int(self.count.value)}{self.unit.value}"

    def reset(self) -> None:
        self.preset.value = "5y"
        self.count.value = 90
        self.unit.value = "d"


class PassphrasePair:
    """A passphrase and its confirmation, which must match (``ck-<prefix>-passphrase*``)."""

    def __init__(self, prefix: str) -> None:
        self.first = widgets.Password(placeholder="Passphrase (optional)")
        css(self.first, "ck-input", f"ck-{prefix}-passphrase")
        self.second = widgets.Password(placeholder="Repeat the passphrase")
        css(self.second, "ck-input", f"ck-{prefix}-passphrase-confirm")

    def fields(self, parts: Parts, *, hint: str = "") -> widgets.HBox:
        """The passphrase and its confirmation side by side, labelled."""
        return parts.hbox(
            [
                parts.field("Passphrase", self.first, hint=hint),
                parts.field("Confirm passphrase", self.second),
            ],
            "ck-row2",
        )

    def value(self) -> Secret | None:
        if self.first.value != self.second.value:
            raise InvalidInput("The passphrase and its confirmation do not match; type both again.")
        return Secret(self.first.value) if self.first.value else None

    def reset(self) -> None:
        self.first.value = ""
        self.second.value = ""
