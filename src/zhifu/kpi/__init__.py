"""The regulator's dashboard: rollups kept up to date from payments, the programme's metrics against the
county's targets, issuers' submissions, and the monthly report."""

from zhifu.kpi.rollup import rebuild, rebuild_db, refresh, refresh_db

REFRESH_INTERVAL_S = 60.0  # the background job's period: the dashboard is at most about a minute behind

__all__ = ["REFRESH_INTERVAL_S", "rebuild", "rebuild_db", "refresh", "refresh_db"]
