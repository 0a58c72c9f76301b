from core.services.library_cli import main

raise SystemExit(main())
