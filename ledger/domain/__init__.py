"""The domain: the authority and credit-record aggregates, record documents, date rules, the catalogue and
its policy, the query policy, review rules, public-text screening and the auditor's replay. Pure: no
database, thread or process; only the library's ``Aggregate`` base."""
