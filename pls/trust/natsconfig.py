"""nats-server authorization from the registry: users by nkey, each with only what it may do.

- a province publishes only to `pls.<its code>.>` and uses JetStream only on its own stream;
- ministry services read every origin's stream through their own consumers, and only the one that
  publishes for `moj` may publish (to `pls.moj.>`);
- a subscribing system reads only its granted subjects, live or through a consumer named after
  itself whose filter is one of its grants;
- operators administer everything. Nothing connects anonymously: the block lists nkey users only.

Each member gets a private reply inbox `_INBOX_<member id>`, so no member can read another's
replies (which carry the messages it fetched).
"""

from __future__ import annotations

import json
from typing import Any

from contracts.subjects import ORIGINS, stream_name
from pls.trust.registry import FederationRegistry, Member, MemberKind


def inbox_prefix(member_id: str) -> str:
    return f"_INBOX_{member_id}"


def _jetstream_reader(origin: str, consumer: str = "*") -> list[str]:
    stream = stream_name(origin)
    any_consumer = ">" if consumer == "*" else consumer
    return [
        f"$JS.API.STREAM.INFO.{stream}",
        f"$JS.API.STREAM.MSG.GET.{stream}",
        f"$JS.API.CONSUMER.CREATE.{stream}",
        f"$JS.API.CONSUMER.CREATE.{stream}.{any_consumer}",
        f"$JS.API.CONSUMER.DURABLE.CREATE.{stream}.{consumer}",
        f"$JS.API.CONSUMER.INFO.{stream}.{consumer}",
        f"$JS.API.CONSUMER.DELETE.{stream}.{consumer}",
        f"$JS.API.CONSUMER.MSG.NEXT.{stream}.{consumer}",
        f"$JS.ACK.{stream}.{consumer}.>",
    ]


def _stream_admin(origin: str) -> list[str]:
    stream = stream_name(origin)
    return [f"$JS.API.STREAM.CREATE.{stream}", f"$JS.API.STREAM.UPDATE.{stream}"]


def _grant_for(grant: str, origin: str) -> str | None:
    """The grant narrowed to one origin, or None when it does not cover that origin."""
    tokens = grant.split(".")
    if tokens[1] in (origin, "*", ">"):
        if tokens[1] == ">":
            return f"pls.{origin}.>"
        return ".".join(["pls", origin, *tokens[2:]])
    return None


def granted_subjects(member: Member, origin: str) -> list[str]:
    """The subjects of `origin` a subscriber's grants cover (none: it may not read that stream)."""
    return [g for g in (_grant_for(grant, origin) for grant in member.grants) if g]


def permissions(member: Member) -> dict[str, Any]:
    inbox = f"{inbox_prefix(member.id)}.>"
    if member.kind is MemberKind.OPERATOR:
        return {"publish": {"allow": [">"]}, "subscribe": {"allow": [">"]}}
    publish = ["$JS.API.INFO"]
    subscribe = [inbox]
    if member.kind is MemberKind.PROVINCE:
        assert member.origin is not None
        publish += [
            f"pls.{member.origin}.>",
            *_stream_admin(member.origin),
            *_jetstream_reader(member.origin),
        ]
        subscribe.append(f"pls.{member.origin}.>")
    elif member.kind is MemberKind.MINISTRY_SERVICE:
        for origin in ORIGINS:
            publish += _jetstream_reader(origin)
        if member.origin is not None:
            publish += [f"pls.{member.origin}.>", *_stream_admin(member.origin)]
        subscribe.append("pls.>")
    else:
        for origin in ORIGINS:
            narrowed = granted_subjects(member, origin)
            if not narrowed:
                continue
            stream = stream_name(origin)
            publish += [
                f"$JS.API.STREAM.INFO.{stream}",
                *(
                    f"$JS.API.CONSUMER.CREATE.{stream}.{member.id}.{subject}"
                    for subject in narrowed
                ),
                f"$JS.API.CONSUMER.INFO.{stream}.{member.id}",
                f"$JS.API.CONSUMER.DELETE.{stream}.{member.id}",
                f"$JS.API.CONSUMER.MSG.NEXT.{stream}.{member.id}",
                f"$JS.ACK.{stream}.{member.id}.>",
            ]
        subscribe += list(member.grants)
    return {"publish": {"allow": publish}, "subscribe": {"allow": subscribe}}


def authorization_block(registry: FederationRegistry) -> str:
    """The `authorization { users = [...] }` section of nats-server.conf."""
    users = [
        {"nkey": member.nats_key, "permissions": permissions(member)} for member in registry.members
    ]
    body = json.dumps({"users": users}, indent=2)
    return f"# Generated from the federation registry ({registry.federation}).\nauthorization: {body}\n"
