"""Test aids that learners never import: a SASL/TLS broker (`secure`), Kafka's own console
consumer as an independent witness (`witness`), and free ports for test clusters (`ports`)."""
