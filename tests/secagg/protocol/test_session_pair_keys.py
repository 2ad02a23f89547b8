"""session._pair_keys (the client's batch of pair keys) against share_key / mask_seed, pair by pair."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from secagg.errors import AbortReason
from secagg.primitives import kex
from secagg.protocol import session
from secagg.protocol._abort import AbortSignal
from tests.detrandom import DeterministicRandom

LOW_ORDER = bytes(32)  # u = 0: X25519 gives the all-zero secret whatever the scalar


@given(
    seed=st.integers(0, 2**32 - 1),
    me=st.integers(1, 2**20),
    peers=st.lists(st.integers(1, 2**20), min_size=1, max_size=6, unique=True),
    sid=st.binary(min_size=32, max_size=32),
)
def test_pair_keys_are_share_key_and_mask_seed_for_every_peer(seed, me, peers, sid):
    rng = DeterministicRandom(seed)
    own = kex.X25519KeyPair.generate(random=rng)
    keys = {v: kex.X25519KeyPair.generate(random=rng).public_bytes for v in peers if v != me}
    shares = session._pair_keys(own, keys, sid, me, kex.PURPOSE_SHARE_ENCRYPTION, 1)
    masks = session._pair_keys(own, keys, sid, me, kex.PURPOSE_MASK_SEED, 2)
    assert list(shares) == list(keys) == list(masks)
    for v, pk in keys.items():
        assert shares[v] == session.share_key(own, pk, sid, me, v)
        assert masks[v] == session.mask_seed(own, pk, sid, me, v)


def test_pair_keys_abort_malformed_naming_the_first_low_order_peer():
    rng = DeterministicRandom(b"pairs")
    own = kex.X25519KeyPair.generate(random=rng)
    keys = {2: kex.X25519KeyPair.generate(random=rng).public_bytes, 5: LOW_ORDER, 7: LOW_ORDER}
    with pytest.raises(kex.InvalidKey):
        session.share_key(own, LOW_ORDER, bytes(32), 1, 5)
    with pytest.raises(AbortSignal) as info:
        session._pair_keys(own, keys, bytes(32), 1, kex.PURPOSE_MASK_SEED, 2)
    assert info.value.reason is AbortReason.MALFORMED and "client 5 " in info.value.detail


def test_pair_keys_refuse_a_bad_purpose_or_round_like_derive_key():
    own = kex.X25519KeyPair.generate(random=DeterministicRandom(1))
    with pytest.raises(ValueError):
        session._pair_keys(own, {}, bytes(32), 1, "prg", 1)
    with pytest.raises(ValueError):
        session._pair_keys(own, {}, bytes(32), 1, kex.PURPOSE_MASK_SEED, 256)
