"""The benchmark (``python3 -m bench`` from a checkout): figures measured in one run, each against a
baseline from the same run.

1. single-statement append over HTTP, 32 clients (wrk): the ledger vs one ``save()`` per request and vs
   an echo endpoint on the same stack; 2. batch ingest, 1,000 statements per request, vs the plain library
   saving the same events unsigned, 100 per ``save()``; 3. archive queries with their log append, 32
   clients, vs one ``save()`` per request; 4. rebuild of all views vs decoding the same events; 5. audit
   verify vs bare Ed25519 verification of the same messages on all cores; 6. proof server time at
   1,000,000 leaves vs one primary-key read; 7. peak RSS of rebuild and audit verify at N/10 and N events.
Absolute figures drift on a shared machine; ratios against same-run baselines are what to compare.

Modules: ``scenarios`` (the run, figures 4-7), ``http_scenario`` (figures 1-3), ``ledgers`` (filled
ledgers and signed bodies), ``processes`` (servers and commands run as child processes), ``apps`` (the
baseline servers), ``load`` (wrk), ``report`` (the figures and their table). The package is not part of
the installed distribution; it sits above ``api`` and nothing imports it.
"""
