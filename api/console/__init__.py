"""The console: a local web app for privacy officers, auditors, service windows and the lead department."""
