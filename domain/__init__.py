"""What a build job is: statuses, transitions, tiers, versions, gates, failures, and the job store."""
