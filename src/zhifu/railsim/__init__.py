"""The fake rails: one HTTP server that speaks each rail's real wire protocol (WeChat Pay API v3, Alipay OpenAPI,
the UnionPay acquirer gateway) with its own keys and its own storage, so our connectors — and the rails' public
SDKs — reach it by base URL exactly as they would reach the real rail. It is a simulator: it never runs unless
switched on (`zhifu sim rails`, `make demo`, the tests)."""
