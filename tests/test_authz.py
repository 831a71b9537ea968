"""Who may manage which certificate (certkit.authz): pure decisions that raise."""

from __future__ import annotations

import itertools

import pytest

from certkit import authz
from certkit.errors import PermissionDenied
from certkit.model import Actor, Clearance

ADMIN_LEVEL = (Clearance.CLUSTER_ADMIN, Clearance.CLUSTER_NODE)
MANAGED_BY_OPERATOR = (Clearance.OPERATOR, Clearance.VALID_USER)


def _may_manage(actor: Clearance, target: Clearance) -> bool:
    """DESIGN.md section 2, written out independently of the implementation."""
    if actor in ADMIN_LEVEL:
        return True
    if actor is Clearance.OPERATOR:
        return target in MANAGED_BY_OPERATOR
    return False


PAIRS = list(itertools.product(Clearance, Clearance))


@pytest.mark.parametrize(
    ("actor", "target"), PAIRS, ids=[f"{a.value}-manages-{t.value}" for a, t in PAIRS]
)
def test_check_manage_matrix(actor: Clearance, target: Clearance) -> None:
    who = Actor(actor, name="someone")
    if _may_manage(actor, target):
        authz.check_manage(who, target, "generate", "x")
    else:
        with pytest.raises(PermissionDenied, match="Cannot generate the certificate 'x'") as caught:
            authz.check_manage(who, target, "generate", "x")
        assert actor.label in str(caught.value)


TRIPLES = list(itertools.product(Clearance, Clearance, Clearance))


@pytest.mark.parametrize(
    ("actor", "old", "new"),
    TRIPLES,
    ids=[f"{a.value}-{o.value}-to-{n.value}" for a, o, n in TRIPLES],
)
def test_check_edit_needs_both_the_old_and_the_new_clearance(
    actor: Clearance, old: Clearance, new: Clearance
) -> None:
    who = Actor(actor)
    if _may_manage(actor, old) and _may_manage(actor, new):
        authz.check_edit(who, old, new, "x")
    else:
        with pytest.raises(PermissionDenied):
            authz.check_edit(who, old, new, "x")


@pytest.mark.parametrize("actor", list(Clearance), ids=[c.value for c in Clearance])
def test_check_delete_refuses_the_connection_certificate(actor: Clearance) -> None:
    mine, other = "AA" * 20, "BB" * 20
    who = Actor(actor, thumbprint=mine, name="me")
    assert who.label == f"me ({mine})"
    target = Clearance.VALID_USER
    with pytest.raises(PermissionDenied):
        authz.check_delete(who, target, (other, mine), "pair")
    if _may_manage(actor, target):
        authz.check_delete(who, target, (other,), "pair")
        with pytest.raises(PermissionDenied, match="current connection"):
            authz.check_delete(who, target, (other, mine), "pair")
    else:
        with pytest.raises(PermissionDenied):
            authz.check_delete(who, target, (other,), "pair")


def test_a_local_actor_without_thumbprint_deletes() -> None:
    authz.check_delete(Actor(Clearance.CLUSTER_ADMIN), Clearance.CLUSTER_NODE, ("AA" * 20,), "n")


@pytest.mark.parametrize("actor", list(Clearance), ids=[c.value for c in Clearance])
def test_require_cluster_admin_and_operator(actor: Clearance) -> None:
    who = Actor(actor)
    if actor.is_admin:
        authz.require_cluster_admin(who, "replace the server certificate")
    else:
        with pytest.raises(PermissionDenied, match="only a Cluster Admin"):
            authz.require_cluster_admin(who, "replace the server certificate")
    if actor is Clearance.VALID_USER:
        with pytest.raises(PermissionDenied, match="needs Operator or Cluster Admin"):
            authz.require_operator(who, "edit")
    else:
        authz.require_operator(who, "edit")


def test_clearance_groups_and_labels() -> None:
    assert [c.group for c in Clearance] == ["Admin", "Admin", "Operator", "User"]
    assert [c.label for c in Clearance] == ["Cluster Admin", "Cluster Node", "Operator", "User"]
    assert Clearance.CLUSTER_NODE.is_admin and Clearance.CLUSTER_ADMIN.is_admin
    assert Clearance.CLUSTER_NODE.rank == Clearance.CLUSTER_ADMIN.rank
    assert Clearance.parse("cluster admin") is Clearance.CLUSTER_ADMIN
    assert Clearance.parse("User") is Clearance.VALID_USER
    assert Clearance.parse("validuser") is Clearance.VALID_USER
