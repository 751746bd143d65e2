"""Pass token edges: the length limit agrees with the encoder."""

from __future__ import annotations

from models.passtoken import MAX_BODY_BYTES, MAX_TOKEN_DIGITS, SIGNATURE_BYTES, TOKEN_PREFIX, bytes_to_digits


def test_the_digit_count_of_n_bytes_is_what_the_encoder_writes():
    from models.passtoken import _digit_count

    for n in range(0, 3 * (MAX_BODY_BYTES + SIGNATURE_BYTES)):
        assert _digit_count(n) == len(bytes_to_digits(b"\xff" * n)) == len(bytes_to_digits(bytes(n))), n


def test_the_longest_token_fits_the_limit_exactly():
    longest = TOKEN_PREFIX + bytes_to_digits(b"\xff" * (MAX_BODY_BYTES + SIGNATURE_BYTES))
    assert len(longest) == MAX_TOKEN_DIGITS
