"""Public-service payments (公共事业缴费): billers, bills, the bill line of a payment, e-receipts, biller
settlement and reconciliation. Use `zhifu.bills.service`; a payment's success reaches bills through its
subscriber to the `PaymentSucceeded` event (`zhifu.bills.events`)."""
