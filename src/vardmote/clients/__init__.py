"""Clients: the journal systems that call the FHIR API, and how they authenticate.

A journal system (e.g. Cosmic) is registered by an administrator as an :class:`ApiClient`
with its public keys (a JWKS) and its scopes. It gets an access token at ``/oauth/token`` by
OAuth 2.0 client credentials with a signed JWT client assertion (``private_key_jwt``, as
SMART Backend Services and RFC 7523 describe it), and sends the token as ``Authorization:
Bearer`` to the FHIR endpoint, which asks :func:`vardmote.clients.auth.authorized_client`.

Modules: ``models`` (the tables), ``scopes`` (the scope grammar, pure), ``keys`` (what a
registered JWKS may hold, pure), ``service`` (add, change keys, revoke, list), ``token`` (the token
endpoint's rule), ``auth`` (the resource server's check of a bearer token).
"""
