;;;; The order of the two stores of the runtime's compiled
;;;; interrupt_thread_handler (libsbthread's measure HANDLER_ORDER,
;;;; src/host/handler_order.rs).
;;;;
;;;; 0.9.4.1's handler pops a function with `th->interrupt_fun = c->cdr;
;;;; release_spinlock(&th->interrupt_fun_lock)' (interrupt.c:897-901), and
;;;; gcc 12 compiles the release (a volatile store of 0) first and the store
;;;; of the queue's head after it: a push in between is lost, and a later
;;;; signal pops NIL ("interrupt_thread_handler: NIL function").
;;;;
;;;; This file reads the handler's code in this process and finds the pair:
;;;;   48 c7 ?? a8 00 00 00 00 00 00 00   movq $0,0xa8(%base)  (the release)
;;;;   48 89 ?? a0 00 00 00               mov  %reg,0xa0(%base) (the head)
;;;; Exit 104: the head is stored first (fixed); 3: the release comes first
;;;; (0.9.4.1 as compiled: upstream's thread code, or libsbthread with
;;;; SBTHREAD_HANDLER_ORDER=0); 1: neither order found.

(in-package "CL-USER")

(load (merge-pathnames "common.lisp" *load-truename*))

(defun code-bytes (address n)
  (let ((sap (sb-sys:int-sap address)))
    (loop for i below n collect (sb-sys:sap-ref-8 sap i))))

(defun release-at-p (bytes)
  (and (>= (length bytes) 11)
       (equal (subseq bytes 0 2) '(#x48 #xc7))
       (equal (subseq bytes 3 11) '(#xa8 0 0 0 0 0 0 0))))

(defun store-at-p (bytes)
  (and (>= (length bytes) 7)
       (equal (subseq bytes 0 2) '(#x48 #x89))
       (equal (subseq bytes 3 7) '(#xa0 0 0 0))))

(let* ((address (or (foreign-function "interrupt_thread_handler")
                    (progn (format t "~&handler-order: no interrupt_thread_handler~%")
                           (sb-ext:quit :unix-status 1))))
       (bytes (code-bytes address 256))
       (order (loop for tail on bytes
                    when (and (release-at-p tail) (store-at-p (nthcdr 11 tail))) return :late
                    when (and (store-at-p tail) (release-at-p (nthcdr 7 tail))) return :fixed)))
  (format t "~&handler-order: interrupt_thread_handler at #x~X: ~A~%" address
          (case order
            (:late "releases the queue's lock, then stores its head (0.9.4.1 as compiled)")
            (:fixed "stores the queue's head, then releases the lock")
            (t "neither order found")))
  (finish-output)
  (sb-ext:quit :unix-status (case order (:fixed 104) (:late 3) (t 1))))
