"""Who may manage which certificate: pure decisions that raise rather than return False.

Rules (DESIGN.md section 2): only a ClusterAdmin may create, change to or from, or delete an
admin-level (ClusterAdmin or ClusterNode) certificate, or replace the server certificate;
an Operator manages Operator and ValidUser certificates; a ValidUser manages none.
"""

from __future__ import annotations

from certkit.errors import PermissionDenied
from certkit.model import Actor, Clearance


def require_operator(actor: Actor, action: str) -> None:
    """Managing certificates at all needs Operator or above."""
    if actor.clearance.rank < Clearance.OPERATOR.rank:
        raise PermissionDenied(
            f"Cannot {action}: it needs Operator or Cluster Admin clearance, and "
            f"{actor.label} has {actor.clearance.label}."
        )


def require_cluster_admin(actor: Actor, action: str) -> None:
    if not actor.clearance.is_admin:
        raise PermissionDenied(
            f"Cannot {action}: only a Cluster Admin can do that, and {actor.label} has "
            f"{actor.clearance.label} clearance."
        )


def check_manage(actor: Actor, clearance: Clearance, action: str, name: str) -> None:
    """May ``actor`` create, change or delete a certificate of ``clearance``?"""
    require_operator(actor, f"{action} the certificate {name!r}")
    if clearance.is_admin and not actor.clearance.is_admin:
        raise PermissionDenied(
            f"Cannot {action} the certificate {name!r} with {clearance.label} clearance: "
            f"only a Cluster Admin can do that, and {actor.label} has "
            f"{actor.clearance.label} clearance."
        )


def check_edit(actor: Actor, old: Clearance, new: Clearance, name: str) -> None:
    """Editing needs the right to manage both the old and the new clearance."""
    check_manage(actor, old, "edit", name)
    if new != old:
        check_manage(actor, new, f"give {new.label} clearance to", name)


def check_delete(
    actor: Actor, clearance: Clearance, thumbprints: tuple[str, ...], name: str
) -> None:
    """Deleting also refuses the certificate the actor is connected with."""
    check_manage(actor, clearance, "delete", name)
    if actor.thumbprint and actor.thumbprint in thumbprints:
        raise PermissionDenied(
            f"Cannot delete {name!r}: it is the certificate of the current connection."
        )
