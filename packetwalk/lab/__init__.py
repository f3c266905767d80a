"""The lab definition, pure: stack settings, the CNI table, kind's config, the chart specs, the
voting app and every object a stack deploys. No I/O beyond reading the stack's own files."""
