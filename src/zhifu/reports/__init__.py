"""Reports for the leadership group: `zhifu report monthly` (the figures come from zhifu.kpi)."""
