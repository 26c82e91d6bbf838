"""Signature checks: inline, or ahead in a pool of worker processes.

With ``verify_processes`` set, the signatures of a batch are checked in that many worker processes
while the rules are decided, in leaf order, in the writer: a check done ahead is only used when the key
the registry holds for the statement at decision time is the key it was checked with.
"""

from __future__ import annotations

import logging
import os
import threading
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool

from keys import KeyError_, key_id_for, signatures_valid, verify_signature
from ledger.adapters.workers import watch_parent
from ledger.application.base import LedgerBase
from ledger.domain.aggregates import Authority
from ledger.errors import AuthenticationError
from ledger.format.statements import AUTHORITY_TYPES, Envelope

log = logging.getLogger("credit_ledger.ledger")


class SignatureChecks(LedgerBase):
    """Checks a statement's signature with the key the registry holds for it (the pinned authority key
    while the ledger is being founded), using a check the worker processes made ahead when it applies."""

    # A batch smaller than this is checked inline: handing it to the processes costs more than it saves.
    AHEAD_MIN = 8

    def close(self) -> None:
        """Stop the verification processes, then close the recorder."""
        self._closed = True
        starting = self._starting
        if starting is not None:
            starting.join(30)
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None
        super().close()

    def _verify(self, env: Envelope, authority: Authority | None) -> None:
        st = env.statement
        pinned = self.authority_public_key
        genesis = authority is None or not authority.authority_has_key()
        if genesis:
            if pinned is None or env.key_id != key_id_for(pinned):
                raise AuthenticationError(
                    "the ledger is not initialised: only the authority key may found it"
                    if authority is None else f"key {env.key_id} is not registered"
                )
            verify_signature(pinned, st.canonical, env.signature)
            return
        assert authority is not None
        record = authority.registry.key_for(env.key_id, st.issuer, st.issued_at)
        if not self._checked_ahead(env, record.public_key):
            verify_signature(record.public_key, st.canonical, env.signature)

    def _wants_ahead(self, envs: list[Envelope]) -> bool:
        """Whether the batch is worth checking ahead in the worker processes."""
        return self.verify_processes >= 1 and len(envs) >= self.AHEAD_MIN

    def _check_ahead(self, envs: list[Envelope], authority: Authority | None) -> None:
        """Start checking the batch's signatures in the worker processes, with the keys ``authority`` (the
        state just brought up to date) holds for them."""
        if authority is None or not authority.authority_has_key():
            return
        todo: list[tuple[Envelope, bytes]] = []
        for env in envs:
            st = env.statement
            if st.type in AUTHORITY_TYPES:
                continue
            try:
                todo.append((env, authority.registry.key_for(env.key_id, st.issuer, st.issued_at).public_key))
            except KeyError_:
                continue  # refused inline, with its reason
        if len(todo) < self.AHEAD_MIN:
            return
        if self._pool is None:
            if self._starting is not None:
                return  # still starting (in the background): check inline meanwhile
            self.start_verifiers()
            if self._pool is None:
                return
        # Small chunks: the writer starts deciding as soon as the first one is back.
        size = max(self.AHEAD_MIN, min(32, -(-len(todo) // (2 * self.verify_processes))))
        try:
            for start in range(0, len(todo), size):
                chunk = todo[start:start + size]
                future = self._pool.submit(signatures_valid, [(pub, env.statement.canonical, env.signature)
                                                               for env, pub in chunk])
                for offset, (env, pub) in enumerate(chunk):
                    self._ahead[id(env)] = (pub, future, offset)
        except BrokenProcessPool:
            # The processes could not start (e.g. a main module that starts work on import): check inline.
            log.warning("signature verification processes are unavailable; verifying in the writer thread")
            self._pool.shutdown(wait=False, cancel_futures=True)
            self._pool = None
            self.verify_processes = 0

    def start_verifiers(self, background: bool = False) -> None:
        """Start the signature-checking processes (a server does so in the background as it starts)."""
        if self.verify_processes < 1 or self._pool is not None or self._starting is not None:
            return
        if background:
            self._starting = threading.Thread(target=self._start_pool, name="verifiers", daemon=True)
            self._starting.start()
        else:
            self._start_pool()

    def _start_pool(self) -> None:
        import multiprocessing

        pool = ProcessPoolExecutor(self.verify_processes, mp_context=multiprocessing.get_context("forkserver"),
                                   initializer=watch_parent, initargs=(os.getpid(),))
        try:
            for f in [pool.submit(signatures_valid, []) for _ in range(self.verify_processes)]:
                f.result()
        except BrokenProcessPool:
            log.warning("signature verification processes are unavailable; verifying in the writer thread")
            pool.shutdown(wait=False, cancel_futures=True)
            self.verify_processes = 0
        else:
            if self._closed:
                pool.shutdown(wait=False, cancel_futures=True)
            else:
                self._pool = pool
        self._starting = None

    def _checked_ahead(self, env: Envelope, public_key: bytes) -> bool:
        """Whether ``env``'s signature was already found valid under ``public_key``."""
        ahead = self._ahead.get(id(env))
        if ahead is None or ahead[0] != public_key:
            return False
        try:
            return ahead[1].result()[ahead[2]]
        except Exception:  # a worker process died: check inline
            return False
