"""Public-service payments (公共事业缴费): billers, bills, the bill line of a payment, e-receipts, biller
settlement and reconciliation. Use `zhifu.bills.service`; this package's import stays light because the payment
path imports `zhifu.bills.hooks`."""
