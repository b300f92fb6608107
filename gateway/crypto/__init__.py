"""Protocol v1 cryptography as pure functions: no I/O, no logging, only the stdlib and PyNaCl.

One module per job: encoding (base64url, canonical JSON), shape (strict field readers), errors,
hashing (BLAKE2b), randomness (injectable source), kdf (Argon2id), keys (key pairs, key ids,
fingerprints), pickup (codes, locators, reporter keys), padding (size buckets, Padmé), message
(envelope plaintext), envelope (seal, open, sign, parse), directory (signed chain, vetted set),
keybundle (passphrase keys and bundles), stream (attachments), pow (proof of work).
docs/PROTOCOL.md is the specification this package implements.
"""
