"""Cryptographic edges: the password KDF (Argon2id), JWT signing/verification and the signing keys' source."""
