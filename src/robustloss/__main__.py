from robustloss.cli import main

raise SystemExit(main())
