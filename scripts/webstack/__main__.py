from webstack.cli import main

raise SystemExit(main())
