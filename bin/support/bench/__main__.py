from bin.support.bench.runner import main

raise SystemExit(main())
