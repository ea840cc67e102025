from biggan.cli import main

raise SystemExit(main())
