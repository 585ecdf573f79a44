import sys

from ai_memory_standin.cli import main

sys.exit(main())
