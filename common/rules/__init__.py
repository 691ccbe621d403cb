"""What valid data means: row rules and expectation suites, one module per dataset.

`fields` holds the field-level parsers and rule builders every dataset shares, so that "an
ISO-8601 timestamp" or "an integer" means the same thing in every job.
"""
